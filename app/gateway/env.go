package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EnvConfig is the gateway binary's configuration, read from GATEWAY_* environment variables.
type EnvConfig struct {
	Gateway Config
	// AdminAddr serves /health/liveness and /stamps ("" disables).
	AdminAddr string
}

// FromEnv reads the configuration. Every error names its variable.
//
//	GATEWAY_SIP_ADDR         SIP listen address, UDP and TCP (default :5060; "off" disables)
//	GATEWAY_SIP_ADVERTISE    host:port for Via/Record-Route (default the listen address)
//	GATEWAY_IMAP_ADDR        IMAP listen address (default :143; "off" disables)
//	GATEWAY_ADMIN_ADDR       liveness and status (default :8081; "off" disables)
//	GATEWAY_STAMPS           static stamp list, JSON [{"id","priority","weight","sip","imap","health"}]
//	GATEWAY_SRV_DOMAIN       or: discover stamps from _sip._udp.<domain> SRV records
//	GATEWAY_STAMP_IMAP_PORT  with SRV: the stamps' IMAP port (default 143)
//	GATEWAY_STAMP_HTTP_PORT  with SRV: the stamps' HTTPS port for readiness (default 443)
//	GATEWAY_POLL_INTERVAL    readiness poll interval (default 1s)
//	GATEWAY_POLL_TIMEOUT     readiness poll timeout (default 500ms)
//	GATEWAY_FAILURES_TO_DOWN failed polls before a stamp leaves rotation (default 2)
//	GATEWAY_REFRESH          how often the stamp list is re-read (default 30s)
func FromEnv(getenv func(string) string) (EnvConfig, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	str := func(key, def string) string {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			v = def
		}
		if strings.EqualFold(v, "off") {
			return ""
		}
		return v
	}
	dur := func(key string, def time.Duration) time.Duration {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(key, "%q is not a positive duration (e.g. 1s)", v)
			return def
		}
		return d
	}
	num := func(key string, def, lo, hi int) int {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			bad(key, "%q is not an integer in %d..%d", v, lo, hi)
			return def
		}
		return n
	}
	var c EnvConfig
	c.Gateway.SIPAddr = str("GATEWAY_SIP_ADDR", ":5060")
	c.Gateway.SIPAdvertise = str("GATEWAY_SIP_ADVERTISE", "")
	c.Gateway.IMAPAddr = str("GATEWAY_IMAP_ADDR", ":143")
	c.AdminAddr = str("GATEWAY_ADMIN_ADDR", ":8081")
	c.Gateway.Pool = PoolConfig{
		Interval:       dur("GATEWAY_POLL_INTERVAL", time.Second),
		Timeout:        dur("GATEWAY_POLL_TIMEOUT", 500*time.Millisecond),
		FailuresToDown: num("GATEWAY_FAILURES_TO_DOWN", 2, 1, 100),
		Refresh:        dur("GATEWAY_REFRESH", 30*time.Second),
	}
	if c.Gateway.SIPAddr == "" && c.Gateway.IMAPAddr == "" {
		bad("GATEWAY_SIP_ADDR", "SIP and IMAP (GATEWAY_IMAP_ADDR) are both off")
	}
	static, domain := strings.TrimSpace(getenv("GATEWAY_STAMPS")), strings.TrimSpace(getenv("GATEWAY_SRV_DOMAIN"))
	switch {
	case static != "" && domain != "":
		bad("GATEWAY_STAMPS", "set either GATEWAY_STAMPS or GATEWAY_SRV_DOMAIN, not both")
	case static != "":
		var list Static
		dec := json.NewDecoder(strings.NewReader(static))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&list); err != nil {
			bad("GATEWAY_STAMPS", "not a JSON list of {id, priority, weight, sip, imap, health}: %v", err)
			break
		}
		seen := map[string]bool{}
		for i, s := range list {
			switch {
			case s.ID == "" || seen[s.ID]:
				bad("GATEWAY_STAMPS", "[%d].id %q missing or duplicate", i, s.ID)
			case s.Health == "":
				bad("GATEWAY_STAMPS", "[%d].health missing", i)
			case s.SIP == "" && c.Gateway.SIPAddr != "":
				bad("GATEWAY_STAMPS", "[%d].sip missing", i)
			case s.IMAP == "" && c.Gateway.IMAPAddr != "":
				bad("GATEWAY_STAMPS", "[%d].imap missing", i)
			}
			seen[s.ID] = true
		}
		if len(list) == 0 {
			bad("GATEWAY_STAMPS", "empty list")
		}
		c.Gateway.Source = list
	case domain != "":
		c.Gateway.Source = SRV{Domain: domain, IMAPPort: num("GATEWAY_STAMP_IMAP_PORT", 143, 1, 65535),
			HTTPPort: num("GATEWAY_STAMP_HTTP_PORT", 443, 1, 65535)}
	default:
		bad("GATEWAY_STAMPS", "no stamp source: set GATEWAY_STAMPS (static) or GATEWAY_SRV_DOMAIN (DNS SRV)")
	}
	return c, errors.Join(errs...)
}
