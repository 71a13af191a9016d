package contract

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Var is one environment variable of a binary: its name, the default the binary applies when
// it is unset (empty: unset means off, or a value derived from another variable), and what it
// means. The configuration tables of app/README.md (stamp) and app/manager/README.md (manager) list
// exactly these variables.
type Var struct {
	Name, Default, Doc string
}

// The stamp binary's core variables. SIP and IMAP settings are in sip.go and imap.go.
var (
	EnvHTTPAddr               = Var{"VOICEMAIL_HTTP_ADDR", ":8080", "HTTP listen address (host:port)"}
	EnvSIPAddr                = Var{"VOICEMAIL_SIP_ADDR", "", "SIP listen address (UDP and TCP); empty disables SIP"}
	EnvIMAPAddr               = Var{"VOICEMAIL_IMAP_ADDR", "", "IMAP listen address; empty disables IMAP"}
	EnvDataDir                = Var{"VOICEMAIL_DATA_DIR", "./data", "embedded store directory (used when no Azure storage is configured)"}
	EnvOperatorToken          = Var{"VOICEMAIL_OPERATOR_TOKEN", "", "bearer token for provisioning and deposits (at least 16 characters); required with Azure storage; without it a local run generates one into <data dir>/operator-token"}
	EnvRegion                 = Var{"VOICEMAIL_REGION", "local", "region id written into CRDT row keys ([a-z0-9-], at most 32)"}
	EnvStamp                  = Var{"VOICEMAIL_STAMP", "local-1", "stamp name, used for the health probe row and the default state blob ([a-z0-9-], at most 63)"}
	EnvTableEndpoint          = Var{"VOICEMAIL_TABLE_ENDPOINT", "", "Cosmos DB for Table / Table Storage endpoint URL (workload identity)"}
	EnvTableFallbackEndpoints = Var{"VOICEMAIL_TABLE_FALLBACK_ENDPOINTS", "", "comma-separated Table endpoints of the account's other regions, in failover order; used while the one before fails"}
	EnvBlobRegions            = Var{"VOICEMAIL_BLOB_REGIONS", "", "other regions' audio accounts, region=https://endpoint,...: where audio another region stored is read from while this region's replica lags"}
	EnvBlobEndpoint           = Var{"VOICEMAIL_BLOB_ENDPOINT", "", "Blob Storage endpoint URL (workload identity)"}
	EnvQueueEndpoint          = Var{"VOICEMAIL_QUEUE_ENDPOINT", "", "Queue Storage endpoint URL (workload identity)"}
	EnvConnectionString       = Var{"VOICEMAIL_STORAGE_CONNECTION_STRING", "", "Azurite connection string (development only; replaces the three endpoints)"}
	EnvTable                  = Var{"VOICEMAIL_TABLE", ServiceTable, "metadata table name"}
	EnvAudioContainer         = Var{"VOICEMAIL_AUDIO_CONTAINER", AudioContainer, "audio blob container"}
	EnvQueue                  = Var{"VOICEMAIL_QUEUE", DepositQueue, "deposit fallback queue"}
	EnvNotifyQueue            = Var{"VOICEMAIL_NOTIFY_QUEUE", NotificationQueue, "queue that receives a JSON notice per stored deposit (for e-mail/SMS notifiers)"}
	EnvStateContainer         = Var{"VOICEMAIL_STATE_CONTAINER", StateContainer, "container of the stamps' state blobs"}
	EnvStateBlob              = Var{"VOICEMAIL_STATE_BLOB", "", "this stamp's state blob, by default the stamp name (embedded: file <data dir>/<name>); removing it drains the stamp"}
	EnvHealthTimeout          = Var{"VOICEMAIL_HEALTH_TIMEOUT", "3s", "overall timeout of one round of health checks"}
	EnvHealthCacheTTL         = Var{"VOICEMAIL_HEALTH_CACHE_TTL", "10s", "how long a health result is served from cache"}
	EnvHealthWindow           = Var{"VOICEMAIL_HEALTH_WINDOW", "60s", "window of the health model (share of 5xx and slow API answers); a stamp it took out of rotation returns at most this long after the failures stop"}
	EnvShutdownGrace          = Var{"VOICEMAIL_SHUTDOWN_GRACE", "25s", "time in-flight requests get to finish after SIGTERM"}
	EnvShutdownDelay          = Var{"VOICEMAIL_SHUTDOWN_DELAY", "0s", "time " + ReadinessPath + " reports 503 before the listener closes (lets Kubernetes stop routing)"}
	EnvDrainInterval          = Var{"VOICEMAIL_DRAIN_INTERVAL", "2s", "how often the deposit queue is drained"}
	EnvDrainVisibility        = Var{"VOICEMAIL_DRAIN_VISIBILITY", "30s", "how long a queued deposit a drainer took stays hidden from other drainers (its retry delay when the store is down)"}
	EnvStoreTimeout           = Var{"VOICEMAIL_STORE_TIMEOUT", "2s", "deadline of each store call on the deposit path; a store that does not answer in time is treated as down and the deposit takes the queue path"}
	EnvPINFreeFailures        = Var{"VOICEMAIL_PIN_FREE_FAILURES", "3", "wrong PINs a source (client address, or caller asserted by a trusted SIP peer) may send before it must wait (1-20)"}
	EnvPINPenaltyMax          = Var{"VOICEMAIL_PIN_PENALTY_MAX", "15s", "longest wait of a source; it doubles from 1 s with each further wrong PIN (1s-10m)"}
	EnvPINMailboxFailures     = Var{"VOICEMAIL_PIN_MAILBOX_FAILURES", "10", "wrong PINs on one mailbox from any sources within the failure window before the mailbox's slow lane starts (3-1000)"}
	EnvPINMailboxDelayMax     = Var{"VOICEMAIL_PIN_MAILBOX_DELAY_MAX", "30s", "longest wait between PIN evaluations in a mailbox's slow lane (1s-10m); wrong PINs never lock a mailbox"}
	EnvPINFailureWindow       = Var{"VOICEMAIL_PIN_FAILURE_WINDOW", "15m", "wrong PINs older than this are forgotten (1m-24h)"}
	EnvPINFailureDelay        = Var{"VOICEMAIL_PIN_FAILURE_DELAY", "250ms", "least time a failed login takes, so unknown numbers and wrong PINs answer alike (10ms-5s)"}
	EnvPINAllowGuessable      = Var{"VOICEMAIL_PIN_ALLOW_GUESSABLE", "false", "accept PINs like 0000, 1234, 1212, 2580 or the mailbox number (refused by default)"}
	EnvLogLevel               = Var{"VOICEMAIL_LOG_LEVEL", "info", "debug, info, warn or error"}
	EnvNumberCountryCode      = Var{"VOICEMAIL_NUMBER_COUNTRY_CODE", "", "country calling code (1-3 digits) a national mailbox number (leading 0) takes; empty: national numbers are refused. Numbers are stored as E.164 digits without +"}
)

func coreVars() []Var {
	return []Var{
		EnvHTTPAddr, EnvSIPAddr, EnvIMAPAddr, EnvDataDir, EnvOperatorToken, EnvRegion, EnvStamp,
		EnvTableEndpoint, EnvTableFallbackEndpoints, EnvBlobRegions, EnvBlobEndpoint, EnvQueueEndpoint, EnvConnectionString, EnvTable,
		EnvAudioContainer, EnvQueue, EnvNotifyQueue, EnvStateContainer, EnvStateBlob,
		EnvHealthTimeout, EnvHealthCacheTTL, EnvHealthWindow, EnvShutdownGrace, EnvShutdownDelay,
		EnvDrainInterval, EnvDrainVisibility, EnvStoreTimeout, EnvPINFreeFailures,
		EnvPINPenaltyMax, EnvPINMailboxFailures, EnvPINMailboxDelayMax, EnvPINFailureWindow,
		EnvPINFailureDelay, EnvPINAllowGuessable, EnvLogLevel, EnvNumberCountryCode,
	}
}

// StampVars lists every variable LoadStamp reads, core first, then TLS and metrics, SIP, IMAP.
func StampVars() []Var {
	return append(append(append(coreVars(), tlsVars()...), sipVars()...), imapVars()...)
}

// Stamp is the validated configuration of the stamp binary.
type Stamp struct {
	HTTPAddr string
	// MetricsAddr serves MetricsPath in plain HTTP, apart from the public API; empty: off.
	MetricsAddr   string
	SIPAddr       string // empty disables SIP
	IMAPAddr      string // empty disables IMAP
	DataDir       string
	OperatorToken string
	// OperatorTokenFile is not read from the environment: it is set when the token was
	// generated for a local run (embedded store and no token), and the token is in this file,
	// never in the logs.
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
	PIN             PINPolicy
	// AllowGuessablePINs accepts PINs the policy refuses.
	AllowGuessablePINs bool
	LogLevel           slog.Level
	// CountryCode is what national mailbox numbers take in place of their leading 0.
	CountryCode string

	// TLS is the edge certificate: HTTPS for the API, STARTTLS and implicit TLS for IMAP.
	TLS  TLS
	SIP  SIP
	IMAP IMAP
}

// PINPolicy tunes how wrong PINs are paid for: a source's wait grows with its wrong PINs, and
// many wrong PINs on one mailbox slow that mailbox's evaluations; nothing locks a mailbox. It
// has the fields, in order, of the service's voicemail.AuthPolicy, which converts from it.
type PINPolicy struct {
	FreeFailures    int
	PenaltyMax      time.Duration
	MailboxFailures int
	MailboxDelayMax time.Duration
	FailureWindow   time.Duration
	FailureDelay    time.Duration
}

// Azure reports whether Azure (or Azurite) storage is configured.
func (c Stamp) Azure() bool {
	return c.ConnectionString != "" || c.TableEndpoint != "" || c.BlobEndpoint != "" || c.QueueEndpoint != ""
}

// State is the stamp's state blob.
func (c Stamp) State() StateBlob { return StateBlob{Container: c.StateContainer, Name: c.StateBlob} }

var (
	regionRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	stampRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	nameRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)
	tableRe  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{2,62}$`)
	// countryCodeRe: ITU-T E.164 country calling codes have 1-3 digits and never start with 0.
	countryCodeRe = regexp.MustCompile(`^[1-9][0-9]{0,2}$`)
)

// LoadStamp reads the configuration with getenv (os.Getenv in main). It returns every problem
// at once, each naming its variable.
func LoadStamp(getenv func(string) string) (Stamp, error) { return loadStamp(getenv, true) }

// LoadStampForInitState is LoadStamp for the init-state mode, which serves nothing and so
// needs no operator token: the state-init Job runs without the Key Vault secret.
func LoadStampForInitState(getenv func(string) string) (Stamp, error) {
	return loadStamp(getenv, false)
}

// DefaultStamp is the configuration with every variable unset.
func DefaultStamp() Stamp {
	c, err := loadStamp(func(string) string { return "" }, false)
	if err != nil {
		panic("contract: the defaults do not load: " + err.Error())
	}
	return c
}

// reader reads variables through getenv and collects every problem, each naming its variable.
type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) bad(v Var, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: "+format, append([]any{v.Name}, args...)...))
}

func (r *reader) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(r.errs...))
}

// str is the variable's value, or its default when unset.
func (r *reader) str(v Var) string {
	if s := strings.TrimSpace(r.getenv(v.Name)); s != "" {
		return s
	}
	return v.Default
}

func (r *reader) addr(v Var) string {
	s := r.str(v)
	if s == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		r.bad(v, "%q is not host:port: %v", s, err)
		return s
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		r.bad(v, "port %q is not 0-65535", port)
	}
	return s
}

func (r *reader) dur(v Var, min, max time.Duration) time.Duration {
	s := r.str(v)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		r.bad(v, "%q is not a duration like 3s or 500ms", s)
		return 0
	}
	if d < min || d > max {
		r.bad(v, "%s is outside %s..%s", d, min, max)
	}
	return d
}

func (r *reader) integer(v Var, min, max int) int {
	s := r.str(v)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		r.bad(v, "%q is not a number from %d to %d", s, min, max)
		return 0
	}
	return n
}

func (r *reader) boolean(v Var) bool {
	s := r.str(v)
	if s == "" {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		r.bad(v, "%q is not a boolean", s)
	}
	return b
}

func (r *reader) list(v Var) []string {
	var out []string
	for _, s := range strings.Split(r.str(v), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// prefixes reads addresses or CIDR prefixes (ParsePeers).
func (r *reader) prefixes(v Var) []netip.Prefix {
	s := r.str(v)
	if s == "" {
		return nil
	}
	ps, err := ParsePeers(s)
	if err != nil {
		r.bad(v, "%v", err)
	}
	return ps
}

func (r *reader) endpoint(v Var) string {
	s := r.str(v)
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		r.bad(v, "%q is not an http(s) URL", s)
	} else if u.Scheme == "http" {
		r.bad(v, "%q must use https (plain http is only for Azurite, via %s)", s, EnvConnectionString.Name)
	}
	return s
}

func loadStamp(getenv func(string) string, needToken bool) (Stamp, error) {
	r := &reader{getenv: getenv}
	c := Stamp{
		HTTPAddr:         r.addr(EnvHTTPAddr),
		SIPAddr:          r.addr(EnvSIPAddr),
		IMAPAddr:         r.addr(EnvIMAPAddr),
		DataDir:          r.str(EnvDataDir),
		OperatorToken:    r.str(EnvOperatorToken),
		Region:           r.str(EnvRegion),
		Stamp:            r.str(EnvStamp),
		TableEndpoint:    r.endpoint(EnvTableEndpoint),
		BlobEndpoint:     r.endpoint(EnvBlobEndpoint),
		QueueEndpoint:    r.endpoint(EnvQueueEndpoint),
		ConnectionString: r.str(EnvConnectionString),
		Table:            r.str(EnvTable),
		AudioContainer:   r.str(EnvAudioContainer),
		Queue:            r.str(EnvQueue),
		NotifyQueue:      r.str(EnvNotifyQueue),
		StateContainer:   r.str(EnvStateContainer),
		StateBlob:        r.str(EnvStateBlob),
		HealthTimeout:    r.dur(EnvHealthTimeout, 100*time.Millisecond, time.Minute),
		HealthCacheTTL:   r.dur(EnvHealthCacheTTL, 0, 10*time.Minute),
		HealthWindow:     r.dur(EnvHealthWindow, 5*time.Second, 10*time.Minute),
		ShutdownGrace:    r.dur(EnvShutdownGrace, 0, 10*time.Minute),
		ShutdownDelay:    r.dur(EnvShutdownDelay, 0, 5*time.Minute),
		DrainInterval:    r.dur(EnvDrainInterval, 10*time.Millisecond, 10*time.Minute),
		DrainVisibility:  r.dur(EnvDrainVisibility, time.Second, time.Hour),
		StoreTimeout:     r.dur(EnvStoreTimeout, 100*time.Millisecond, time.Minute),
		PIN: PINPolicy{
			FreeFailures:    r.integer(EnvPINFreeFailures, 1, 20),
			PenaltyMax:      r.dur(EnvPINPenaltyMax, time.Second, 10*time.Minute),
			MailboxFailures: r.integer(EnvPINMailboxFailures, 3, 1000),
			MailboxDelayMax: r.dur(EnvPINMailboxDelayMax, time.Second, 10*time.Minute),
			FailureWindow:   r.dur(EnvPINFailureWindow, time.Minute, 24*time.Hour),
			FailureDelay:    r.dur(EnvPINFailureDelay, 10*time.Millisecond, 5*time.Second),
		},
	}
	if c.StateBlob == "" {
		c.StateBlob = c.Stamp
	}
	for _, e := range r.list(EnvTableFallbackEndpoints) {
		if u, err := url.Parse(e); err != nil || u.Host == "" || (u.Scheme != "https" && !strings.HasPrefix(e, "http://127.")) {
			r.bad(EnvTableFallbackEndpoints, "%q is not an https URL (http only for a loopback Azurite)", e)
			continue
		}
		c.TableFallbackEndpoints = append(c.TableFallbackEndpoints, e)
	}
	for _, kv := range r.list(EnvBlobRegions) {
		if c.BlobRegions == nil {
			c.BlobRegions = map[string]string{}
		}
		region, endpoint, ok := strings.Cut(kv, "=")
		u, err := url.Parse(endpoint)
		switch {
		case !ok || !regionRe.MatchString(region):
			r.bad(EnvBlobRegions, "%q is not region=https://endpoint", kv)
		case err != nil || u.Host == "" || (u.Scheme != "https" && !strings.HasPrefix(endpoint, "http://127.")):
			r.bad(EnvBlobRegions, "%q: the endpoint must be an https URL (http only for a loopback Azurite)", kv)
		default:
			c.BlobRegions[region] = endpoint
		}
	}
	if len(c.TableFallbackEndpoints) > 0 && c.TableEndpoint == "" && c.ConnectionString == "" {
		r.bad(EnvTableFallbackEndpoints, "needs %s (or, for Azurite, %s)", EnvTableEndpoint.Name, EnvConnectionString.Name)
	}
	c.AllowGuessablePINs = r.boolean(EnvPINAllowGuessable)
	if c.CountryCode = r.str(EnvNumberCountryCode); c.CountryCode != "" && !countryCodeRe.MatchString(c.CountryCode) {
		r.bad(EnvNumberCountryCode, "%q is not a country calling code (1-3 digits, no leading 0)", c.CountryCode)
	}
	if err := c.LogLevel.UnmarshalText([]byte(r.str(EnvLogLevel))); err != nil {
		r.bad(EnvLogLevel, "%q is not debug, info, warn or error", r.str(EnvLogLevel))
	}
	if !regionRe.MatchString(c.Region) {
		r.bad(EnvRegion, "%q must be lowercase letters, digits and '-', at most 32", c.Region)
	}
	if !stampRe.MatchString(c.Stamp) {
		r.bad(EnvStamp, "%q must be lowercase letters, digits and '-', at most 63", c.Stamp)
	}
	if !nameRe.MatchString(c.StateBlob) {
		r.bad(EnvStateBlob, "%q must be lowercase letters, digits and '-'", c.StateBlob)
	}
	if !tableRe.MatchString(c.Table) {
		r.bad(EnvTable, "%q must be 3-63 letters and digits, starting with a letter", c.Table)
	}
	for _, n := range []struct {
		v     Var
		value string
	}{{EnvAudioContainer, c.AudioContainer}, {EnvQueue, c.Queue}, {EnvNotifyQueue, c.NotifyQueue}, {EnvStateContainer, c.StateContainer}} {
		if !nameRe.MatchString(n.value) {
			r.bad(n.v, "%q must be 3-63 lowercase letters, digits and '-'", n.value)
		}
	}
	if c.OperatorToken != "" && len(c.OperatorToken) < 16 {
		r.bad(EnvOperatorToken, "must be at least 16 characters")
	}
	endpoints := []struct {
		v     Var
		value string
	}{{EnvTableEndpoint, c.TableEndpoint}, {EnvBlobEndpoint, c.BlobEndpoint}, {EnvQueueEndpoint, c.QueueEndpoint}}
	set := 0
	for _, e := range endpoints {
		if e.value != "" {
			set++
		}
	}
	switch {
	case c.ConnectionString != "" && set > 0:
		r.bad(EnvConnectionString, "set either it (Azurite) or the endpoints (Azure), not both")
	case c.ConnectionString != "" && !strings.Contains(c.ConnectionString, "AccountName="):
		r.bad(EnvConnectionString, "is not a storage connection string (no AccountName=)")
	case set > 0 && set < 3:
		for _, e := range endpoints {
			if e.value == "" {
				r.bad(e.v, "required when any Azure storage endpoint is set")
			}
		}
	}
	if needToken && c.Azure() && c.OperatorToken == "" {
		r.bad(EnvOperatorToken, "required with Azure storage (from Key Vault via the stamp's secret)")
	}
	if c.DataDir == "" {
		r.bad(EnvDataDir, "must not be empty")
	}
	c.TLS = r.tls()
	c.MetricsAddr = r.addr(EnvMetricsAddr)
	c.SIP = r.sip()
	c.IMAP = r.imap()
	if c.IMAP.TLSAddr != "" && !c.TLS.Enabled() {
		r.bad(EnvIMAPSAddr, "needs %s and %s", EnvTLSCert.Name, EnvTLSKey.Name)
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.HTTPAddr {
		r.bad(EnvMetricsAddr, "must differ from %s: metrics stay off the public listener", EnvHTTPAddr.Name)
	}
	return c, r.err()
}

// Environ is the inverse of LoadStamp: the environment ("NAME=value", in StampVars order) that
// loads as c. Every setting is written, defaults included, so what a pod or a local process
// runs with can be read off its ConfigMap or command line; empty values are left out (the
// operator token of a deployed stamp comes from its Secret, not from here).
func (c Stamp) Environ() []string {
	var e environ
	e.str(EnvHTTPAddr, c.HTTPAddr)
	e.str(EnvSIPAddr, c.SIPAddr)
	e.str(EnvIMAPAddr, c.IMAPAddr)
	e.str(EnvDataDir, c.DataDir)
	e.str(EnvOperatorToken, c.OperatorToken)
	e.str(EnvRegion, c.Region)
	e.str(EnvStamp, c.Stamp)
	e.str(EnvTableEndpoint, c.TableEndpoint)
	e.list(EnvTableFallbackEndpoints, c.TableFallbackEndpoints)
	regions := make([]string, 0, len(c.BlobRegions))
	for r, ep := range c.BlobRegions {
		regions = append(regions, r+"="+ep)
	}
	slices.Sort(regions)
	e.list(EnvBlobRegions, regions)
	e.str(EnvBlobEndpoint, c.BlobEndpoint)
	e.str(EnvQueueEndpoint, c.QueueEndpoint)
	e.str(EnvConnectionString, c.ConnectionString)
	e.str(EnvTable, c.Table)
	e.str(EnvAudioContainer, c.AudioContainer)
	e.str(EnvQueue, c.Queue)
	e.str(EnvNotifyQueue, c.NotifyQueue)
	e.str(EnvStateContainer, c.StateContainer)
	e.str(EnvStateBlob, c.StateBlob)
	e.dur(EnvHealthTimeout, c.HealthTimeout)
	e.dur(EnvHealthCacheTTL, c.HealthCacheTTL)
	e.dur(EnvHealthWindow, c.HealthWindow)
	e.dur(EnvShutdownGrace, c.ShutdownGrace)
	e.dur(EnvShutdownDelay, c.ShutdownDelay)
	e.dur(EnvDrainInterval, c.DrainInterval)
	e.dur(EnvDrainVisibility, c.DrainVisibility)
	e.dur(EnvStoreTimeout, c.StoreTimeout)
	e.integer(EnvPINFreeFailures, c.PIN.FreeFailures)
	e.dur(EnvPINPenaltyMax, c.PIN.PenaltyMax)
	e.integer(EnvPINMailboxFailures, c.PIN.MailboxFailures)
	e.dur(EnvPINMailboxDelayMax, c.PIN.MailboxDelayMax)
	e.dur(EnvPINFailureWindow, c.PIN.FailureWindow)
	e.dur(EnvPINFailureDelay, c.PIN.FailureDelay)
	e.boolean(EnvPINAllowGuessable, c.AllowGuessablePINs)
	e.str(EnvLogLevel, strings.ToLower(c.LogLevel.String()))
	e.str(EnvNumberCountryCode, c.CountryCode)
	c.TLS.environ(&e)
	e.str(EnvMetricsAddr, c.MetricsAddr)
	c.SIP.environ(&e)
	c.IMAP.environ(&e)
	return e
}

// EnvironMap is Environ as a map (a ConfigMap's data).
func (c Stamp) EnvironMap() map[string]string { return toMap(c.Environ()) }

func toMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// environ collects "NAME=value" pairs in a stable form: durations as Go writes them without
// trailing zero units ("5m30s", "30m", "1h"), empty strings left out.
type environ []string

func (e *environ) str(v Var, s string) {
	if s != "" {
		*e = append(*e, v.Name+"="+s)
	}
}

func (e *environ) dur(v Var, d time.Duration) {
	s := d.String()
	s, _ = strings.CutSuffix(s, "m0s")
	if len(s) < len(d.String()) {
		s += "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	e.str(v, s)
}

func (e *environ) integer(v Var, n int) { e.str(v, strconv.Itoa(n)) }

// optDur and optInt leave a zero out: for settings whose zero means "the default".
func (e *environ) optDur(v Var, d time.Duration) {
	if d != 0 {
		e.dur(v, d)
	}
}

func (e *environ) optInt(v Var, n int) {
	if n != 0 {
		e.integer(v, n)
	}
}

func (e *environ) boolean(v Var, b bool) { e.str(v, strconv.FormatBool(b)) }

func (e *environ) list(v Var, l []string) { e.str(v, strings.Join(l, ",")) }

func (e *environ) prefixes(v Var, ps []netip.Prefix) {
	l := make([]string, len(ps))
	for i, p := range ps {
		l[i] = p.String()
	}
	e.list(v, l)
}

// EnvPrefix starts the name of every variable of the stamp binary and the management service.
const EnvPrefix = "VOICEMAIL_"
