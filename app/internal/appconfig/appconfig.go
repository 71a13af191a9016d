// Package appconfig reads the voicemail service's configuration from environment variables
// (the same names go into the stamp's ConfigMap) and validates all of it at start, naming the
// variable in every error.
package appconfig

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// Config is the validated configuration.
type Config struct {
	HTTPAddr      string
	SIPAddr       string // empty disables SIP
	IMAPAddr      string // empty disables IMAP
	DataDir       string
	OperatorToken string
	// OperatorTokenFile is set when the token was generated for a local run (embedded store and
	// no VOICEMAIL_OPERATOR_TOKEN): it is in this file, never in the logs.
	OperatorTokenFile string
	Region            string
	Stamp             string

	// Azure storage; all empty means the embedded store in DataDir.
	TableEndpoint string
	// TableFallbackEndpoints are the other regions' Table endpoints of the same multi-region
	// account, in failover order: the store moves to the next while the one before fails.
	TableFallbackEndpoints []string
	// BlobRegions are the other regions' audio accounts (region -> blob endpoint): audio a
	// message's origin region stored is read from this region's replica of it, else from the
	// origin's account or another region's replica.
	BlobRegions      map[string]string
	BlobEndpoint     string
	QueueEndpoint    string
	ConnectionString string // Azurite only
	Table            string
	AudioContainer   string
	Queue            string
	NotifyQueue      string
	StateContainer   string
	StateBlob        string

	HealthTimeout   time.Duration
	HealthCacheTTL  time.Duration
	HealthWindow    time.Duration
	ShutdownGrace   time.Duration
	ShutdownDelay   time.Duration
	DrainInterval   time.Duration
	DrainVisibility time.Duration
	StoreTimeout    time.Duration
	Auth            voicemail.AuthPolicy
	// AllowGuessablePINs accepts PINs the policy refuses (VOICEMAIL_PIN_ALLOW_GUESSABLE).
	AllowGuessablePINs bool
	LogLevel           slog.Level
}

// Azure reports whether Azure (or Azurite) storage is configured.
func (c Config) Azure() bool {
	return c.ConnectionString != "" || c.TableEndpoint != "" || c.BlobEndpoint != "" || c.QueueEndpoint != ""
}

// Var documents one environment variable (the README table is generated from the same list).
type Var struct {
	Name, Default, Meaning string
}

// Vars lists every variable Load reads.
var Vars = []Var{
	{"VOICEMAIL_HTTP_ADDR", ":8080", "HTTP listen address (host:port)"},
	{"VOICEMAIL_SIP_ADDR", "", "SIP listen address (UDP and TCP); empty disables SIP"},
	{"VOICEMAIL_IMAP_ADDR", "", "IMAP listen address; empty disables IMAP"},
	{"VOICEMAIL_DATA_DIR", "./data", "embedded store directory (used when no Azure storage is configured)"},
	{"VOICEMAIL_OPERATOR_TOKEN", "", "bearer token for provisioning and deposits (at least 16 characters); required with Azure storage; without it a local run generates one into <data dir>/operator-token"},
	{"VOICEMAIL_REGION", "local", "region id written into CRDT row keys ([a-z0-9-], at most 32)"},
	{"VOICEMAIL_STAMP", "local-1", "stamp name, used for the health probe row and the default state blob ([a-z0-9-], at most 63)"},
	{"VOICEMAIL_TABLE_ENDPOINT", "", "Cosmos DB for Table / Table Storage endpoint URL (workload identity): the stamp's own region's endpoint of the account"},
	{"VOICEMAIL_TABLE_FALLBACK_ENDPOINTS", "", "comma-separated Table endpoints of the account's other regions, in failover order; used while the one before fails"},
	{"VOICEMAIL_BLOB_REGIONS", "", "other regions' audio accounts, region=https://endpoint,...: where audio another region stored is read from while this region's replica lags"},
	{"VOICEMAIL_BLOB_ENDPOINT", "", "Blob Storage endpoint URL (workload identity)"},
	{"VOICEMAIL_QUEUE_ENDPOINT", "", "Queue Storage endpoint URL (workload identity)"},
	{"VOICEMAIL_STORAGE_CONNECTION_STRING", "", "Azurite connection string (development only; replaces the three endpoints)"},
	{"VOICEMAIL_TABLE", "voicemail", "metadata table name"},
	{"VOICEMAIL_AUDIO_CONTAINER", "audio", "audio blob container"},
	{"VOICEMAIL_QUEUE", "deposits", "deposit fallback queue"},
	{"VOICEMAIL_NOTIFY_QUEUE", "notifications", "queue that receives a JSON notice per stored deposit (for e-mail/SMS notifiers)"},
	{"VOICEMAIL_STATE_CONTAINER", "state", "container of the stamps' state blobs"},
	{"VOICEMAIL_STATE_BLOB", "<stamp>", "this stamp's state blob (embedded: file <data dir>/<name>); removing it drains the stamp"},
	{"VOICEMAIL_HEALTH_TIMEOUT", "3s", "overall timeout of one round of health checks"},
	{"VOICEMAIL_HEALTH_CACHE_TTL", "10s", "how long a health result is served from cache"},
	{"VOICEMAIL_HEALTH_WINDOW", "60s", "window of the health model (share of 5xx and slow API answers); a stamp it took out of rotation returns at most this long after the failures stop"},
	{"VOICEMAIL_SHUTDOWN_GRACE", "25s", "time in-flight requests get to finish after SIGTERM"},
	{"VOICEMAIL_SHUTDOWN_DELAY", "0s", "time /health/ready reports 503 before the listener closes (lets Kubernetes stop routing)"},
	{"VOICEMAIL_DRAIN_INTERVAL", "2s", "how often the deposit queue is drained"},
	{"VOICEMAIL_DRAIN_VISIBILITY", "30s", "how long a queued deposit a drainer took stays hidden from other drainers (its retry delay when the store is down)"},
	{"VOICEMAIL_STORE_TIMEOUT", "2s", "deadline of each store call on the deposit path; a store that does not answer in time is treated as down and the deposit takes the queue path"},
	{"VOICEMAIL_PIN_FREE_FAILURES", "3", "wrong PINs a source (client address, or caller asserted by a trusted SIP peer) may send before it must wait (1-20)"},
	{"VOICEMAIL_PIN_PENALTY_MAX", "15s", "longest wait of a source; it doubles from 1 s with each further wrong PIN (1s-10m)"},
	{"VOICEMAIL_PIN_MAILBOX_FAILURES", "10", "wrong PINs on one mailbox from any sources within the failure window before the mailbox's slow lane starts (3-1000)"},
	{"VOICEMAIL_PIN_MAILBOX_DELAY_MAX", "30s", "longest wait between PIN evaluations in a mailbox's slow lane (1s-10m); wrong PINs never lock a mailbox"},
	{"VOICEMAIL_PIN_FAILURE_WINDOW", "15m", "wrong PINs older than this are forgotten (1m-24h)"},
	{"VOICEMAIL_PIN_ALLOW_GUESSABLE", "false", "accept PINs like 0000, 1234, 1212, 2580 or the mailbox number (refused by default)"},
	{"VOICEMAIL_PIN_FAILURE_DELAY", "250ms", "least time a failed login takes, so unknown numbers and wrong PINs answer alike (10ms-5s)"},
	{"VOICEMAIL_LOG_LEVEL", "info", "debug, info, warn or error"},
}

var (
	regionRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	stampRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	nameRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)
	tableRe  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{2,62}$`)
)

// Load reads the configuration with getenv (os.Getenv in main). It returns every problem at
// once, each naming its variable. For a local run without a token it generates one.
func Load(getenv func(string) string) (Config, error) { return load(getenv, true) }

// LoadForInitState is Load for `voicemail init-state`, which serves nothing and so needs no
// operator token: the state-init Job runs without the Key Vault secret.
func LoadForInitState(getenv func(string) string) (Config, error) { return load(getenv, false) }

func load(getenv func(string) string, needToken bool) (Config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	addr := func(name, def string, optional bool) string {
		v := get(name, def)
		if v == "" && optional {
			return ""
		}
		host, port, err := net.SplitHostPort(v)
		if err != nil {
			bad(name, "%q is not host:port: %v", v, err)
			return v
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad(name, "port %q is not 0-65535", port)
		}
		_ = host
		return v
	}
	dur := func(name, def string, min, max time.Duration) time.Duration {
		v := get(name, def)
		d, err := time.ParseDuration(v)
		if err != nil {
			bad(name, "%q is not a duration like 3s or 500ms", v)
			return 0
		}
		if d < min || d > max {
			bad(name, "%s is outside %s..%s", d, min, max)
		}
		return d
	}
	endpoint := func(name string) string {
		v := get(name, "")
		if v == "" {
			return ""
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			bad(name, "%q is not an http(s) URL", v)
		} else if u.Scheme == "http" {
			bad(name, "%q must use https (plain http is only for Azurite, via VOICEMAIL_STORAGE_CONNECTION_STRING)", v)
		}
		return v
	}

	c := Config{
		HTTPAddr:         addr("VOICEMAIL_HTTP_ADDR", ":8080", false),
		SIPAddr:          addr("VOICEMAIL_SIP_ADDR", "", true),
		IMAPAddr:         addr("VOICEMAIL_IMAP_ADDR", "", true),
		DataDir:          get("VOICEMAIL_DATA_DIR", "./data"),
		OperatorToken:    get("VOICEMAIL_OPERATOR_TOKEN", ""),
		Region:           get("VOICEMAIL_REGION", "local"),
		Stamp:            get("VOICEMAIL_STAMP", "local-1"),
		TableEndpoint:    endpoint("VOICEMAIL_TABLE_ENDPOINT"),
		BlobEndpoint:     endpoint("VOICEMAIL_BLOB_ENDPOINT"),
		QueueEndpoint:    endpoint("VOICEMAIL_QUEUE_ENDPOINT"),
		ConnectionString: get("VOICEMAIL_STORAGE_CONNECTION_STRING", ""),
		Table:            get("VOICEMAIL_TABLE", "voicemail"),
		AudioContainer:   get("VOICEMAIL_AUDIO_CONTAINER", "audio"),
		Queue:            get("VOICEMAIL_QUEUE", "deposits"),
		NotifyQueue:      get("VOICEMAIL_NOTIFY_QUEUE", "notifications"),
		StateContainer:   get("VOICEMAIL_STATE_CONTAINER", "state"),
		HealthTimeout:    dur("VOICEMAIL_HEALTH_TIMEOUT", "3s", 100*time.Millisecond, time.Minute),
		HealthCacheTTL:   dur("VOICEMAIL_HEALTH_CACHE_TTL", "10s", 0, 10*time.Minute),
		HealthWindow:     dur("VOICEMAIL_HEALTH_WINDOW", "60s", 5*time.Second, 10*time.Minute),
		ShutdownGrace:    dur("VOICEMAIL_SHUTDOWN_GRACE", "25s", 0, 10*time.Minute),
		ShutdownDelay:    dur("VOICEMAIL_SHUTDOWN_DELAY", "0s", 0, 5*time.Minute),
		DrainInterval:    dur("VOICEMAIL_DRAIN_INTERVAL", "2s", 10*time.Millisecond, 10*time.Minute),
		DrainVisibility:  dur("VOICEMAIL_DRAIN_VISIBILITY", "30s", time.Second, time.Hour),
		StoreTimeout:     dur("VOICEMAIL_STORE_TIMEOUT", "2s", 100*time.Millisecond, time.Minute),
		Auth: voicemail.AuthPolicy{
			PenaltyMax:      dur("VOICEMAIL_PIN_PENALTY_MAX", "15s", time.Second, 10*time.Minute),
			MailboxDelayMax: dur("VOICEMAIL_PIN_MAILBOX_DELAY_MAX", "30s", time.Second, 10*time.Minute),
			FailureWindow:   dur("VOICEMAIL_PIN_FAILURE_WINDOW", "15m", time.Minute, 24*time.Hour),
			FailureDelay:    dur("VOICEMAIL_PIN_FAILURE_DELAY", "250ms", 10*time.Millisecond, 5*time.Second),
		},
	}
	c.StateBlob = get("VOICEMAIL_STATE_BLOB", c.Stamp)
	if v := get("VOICEMAIL_TABLE_FALLBACK_ENDPOINTS", ""); v != "" {
		for _, e := range strings.Split(v, ",") {
			e = strings.TrimSpace(e)
			if u, err := url.Parse(e); err != nil || u.Scheme != "https" || u.Host == "" {
				bad("VOICEMAIL_TABLE_FALLBACK_ENDPOINTS", "%q is not an https URL", e)
				continue
			}
			c.TableFallbackEndpoints = append(c.TableFallbackEndpoints, e)
		}
	}
	if v := get("VOICEMAIL_BLOB_REGIONS", ""); v != "" {
		c.BlobRegions = map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			region, endpoint, ok := strings.Cut(strings.TrimSpace(kv), "=")
			u, err := url.Parse(endpoint)
			switch {
			case !ok || !regionRe.MatchString(region):
				bad("VOICEMAIL_BLOB_REGIONS", "%q is not region=https://endpoint", kv)
			case err != nil || u.Host == "" || (u.Scheme != "https" && !strings.HasPrefix(endpoint, "http://127.")):
				bad("VOICEMAIL_BLOB_REGIONS", "%q: the endpoint must be an https URL (http only for a loopback Azurite)", kv)
			default:
				c.BlobRegions[region] = endpoint
			}
		}
	}

	integer := func(name, def string, min, max int) int {
		v := get(name, def)
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			bad(name, "%q is not a number from %d to %d", v, min, max)
		}
		return n
	}
	switch v := get("VOICEMAIL_PIN_ALLOW_GUESSABLE", "false"); v {
	case "true", "false":
		c.AllowGuessablePINs = v == "true"
	default:
		bad("VOICEMAIL_PIN_ALLOW_GUESSABLE", "%q is not true or false", v)
	}
	c.Auth.FreeFailures = integer("VOICEMAIL_PIN_FREE_FAILURES", "3", 1, 20)
	c.Auth.MailboxFailures = integer("VOICEMAIL_PIN_MAILBOX_FAILURES", "10", 3, 1000)
	if err := c.LogLevel.UnmarshalText([]byte(get("VOICEMAIL_LOG_LEVEL", "info"))); err != nil {
		bad("VOICEMAIL_LOG_LEVEL", "%q is not debug, info, warn or error", getenv("VOICEMAIL_LOG_LEVEL"))
	}
	if !regionRe.MatchString(c.Region) {
		bad("VOICEMAIL_REGION", "%q must be lowercase letters, digits and '-', at most 32", c.Region)
	}
	if !stampRe.MatchString(c.Stamp) {
		bad("VOICEMAIL_STAMP", "%q must be lowercase letters, digits and '-', at most 63", c.Stamp)
	}
	if !nameRe.MatchString(c.StateBlob) {
		bad("VOICEMAIL_STATE_BLOB", "%q must be lowercase letters, digits and '-'", c.StateBlob)
	}
	if !tableRe.MatchString(c.Table) {
		bad("VOICEMAIL_TABLE", "%q must be 3-63 letters and digits, starting with a letter", c.Table)
	}
	for name, v := range map[string]string{"VOICEMAIL_AUDIO_CONTAINER": c.AudioContainer, "VOICEMAIL_QUEUE": c.Queue, "VOICEMAIL_NOTIFY_QUEUE": c.NotifyQueue, "VOICEMAIL_STATE_CONTAINER": c.StateContainer} {
		if !nameRe.MatchString(v) {
			bad(name, "%q must be 3-63 lowercase letters, digits and '-'", v)
		}
	}
	if c.OperatorToken != "" && len(c.OperatorToken) < 16 {
		bad("VOICEMAIL_OPERATOR_TOKEN", "must be at least 16 characters")
	}

	endpoints := map[string]string{"VOICEMAIL_TABLE_ENDPOINT": c.TableEndpoint, "VOICEMAIL_BLOB_ENDPOINT": c.BlobEndpoint, "VOICEMAIL_QUEUE_ENDPOINT": c.QueueEndpoint}
	set := 0
	for _, v := range endpoints {
		if v != "" {
			set++
		}
	}
	switch {
	case c.ConnectionString != "" && set > 0:
		bad("VOICEMAIL_STORAGE_CONNECTION_STRING", "set either it (Azurite) or the endpoints (Azure), not both")
	case c.ConnectionString != "" && !strings.Contains(c.ConnectionString, "AccountName="):
		bad("VOICEMAIL_STORAGE_CONNECTION_STRING", "is not a storage connection string (no AccountName=)")
	case set > 0 && set < 3:
		for _, name := range []string{"VOICEMAIL_TABLE_ENDPOINT", "VOICEMAIL_BLOB_ENDPOINT", "VOICEMAIL_QUEUE_ENDPOINT"} {
			if endpoints[name] == "" {
				bad(name, "required when any Azure storage endpoint is set")
			}
		}
	}
	if len(c.TableFallbackEndpoints) > 0 && c.TableEndpoint == "" {
		bad("VOICEMAIL_TABLE_FALLBACK_ENDPOINTS", "needs VOICEMAIL_TABLE_ENDPOINT")
	}
	if needToken && c.Azure() && c.OperatorToken == "" {
		bad("VOICEMAIL_OPERATOR_TOKEN", "required with Azure storage (from Key Vault via the stamp's secret)")
	}
	if c.DataDir == "" {
		bad("VOICEMAIL_DATA_DIR", "must not be empty")
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// EnsureLocalToken generates an operator token for a local run that has none and stores it in
// <data dir>/operator-token (0600), reusing an existing one.
func (c *Config) EnsureLocalToken() error {
	if c.OperatorToken != "" || c.Azure() {
		return nil
	}
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("VOICEMAIL_DATA_DIR: %w", err)
	}
	path := filepath.Join(c.DataDir, "operator-token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		c.OperatorToken, c.OperatorTokenFile = strings.TrimSpace(string(b)), path
		return nil
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	tok := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	c.OperatorToken, c.OperatorTokenFile = tok, path
	return nil
}
