package contract

import (
	"net/netip"
	"strings"
	"time"
)

// The stamp binary's IMAP variables. EnvIMAPAddr (plain IMAP with STARTTLS) is a core
// variable; EnvIMAPSAddr is the implicit-TLS listener.
var (
	EnvIMAPSAddr           = Var{"VOICEMAIL_IMAPS_ADDR", "", "implicit-TLS IMAP listen address; empty disables it; needs " + EnvTLSCert.Name}
	EnvIMAPDomain          = Var{"VOICEMAIL_IMAP_DOMAIN", "voicemail.invalid", "host part of From/To/Message-ID addresses"}
	EnvIMAPLanguages       = Var{"VOICEMAIL_IMAP_LANGUAGES", "", "comma-separated languages numbered 1.. for XCHANGE_VM_LANG LANG=<n>"}
	EnvIMAPIdleTimeout     = Var{"VOICEMAIL_IMAP_IDLE_TIMEOUT", "30m", "autologout of an idle connection (at least 1m)"}
	EnvIMAPMaxConnections  = Var{"VOICEMAIL_IMAP_MAX_CONNECTIONS", "1000", "concurrent IMAP sessions"}
	EnvIMAPVisibilityDelay = Var{"VOICEMAIL_IMAP_VISIBILITY_DELAY", "5s", "IMAP shows an INBOX message once its deposit time is this old (0s..5m), and deposit notifications wait as long; must exceed cross-region replication lag plus clock skew, so UIDs ascend as messages are added; 0s only for a single region"}
	EnvIMAPProxyFrom       = Var{"VOICEMAIL_IMAP_PROXY_FROM", "", "addresses or CIDR prefixes of load balancers (HAProxy send-proxy-v2) whose connections start with a PROXY protocol header naming the client, so per-source limits see clients, not the balancer; their connections must carry one, anyone else's are plain IMAP"}
)

// MaxIMAPVisibilityDelay bounds EnvIMAPVisibilityDelay: how late a message may show in INBOX.
// The stack key imap.visibilityDelay is validated against the same range.
const MaxIMAPVisibilityDelay = 5 * time.Minute

// IMAPLateArrivalLogMessage is the line (msg) the stamp binary logs when a message reaches INBOX
// later than the visibility delay (cross-region replication lag plus clock skew exceeded it),
// with the attributes "mailbox", "id" and "outcome": IMAPLateArrivalPlaced (it was placed above
// UIDNEXT) or IMAPLateArrivalUIDValidityRaised (no record could name it; UIDVALIDITY was raised
// so clients resync, and "id" is absent). The health
// model (monitoring/kql/stamp) reads these lines from Container insights' ContainerLogV2 and
// alerts per stamp.
const (
	IMAPLateArrivalLogMessage        = "imap late arrival"
	IMAPLateArrivalPlaced            = "placed"
	IMAPLateArrivalUIDValidityRaised = "uidvalidity-raised"
)

func imapVars() []Var {
	return []Var{
		EnvIMAPSAddr, EnvIMAPDomain,
		EnvIMAPLanguages, EnvIMAPIdleTimeout, EnvIMAPMaxConnections, EnvIMAPProxyFrom,
		EnvIMAPVisibilityDelay,
	}
}

// IMAP is the IMAP server's configuration as the environment gives it. The imap package turns
// it into its own Config; the certificate is the stamp's (Stamp.TLS). With a certificate, login
// is refused before TLS (RFC 8314 §3: cleartext login is not offered where TLS is available).
type IMAP struct {
	TLSAddr        string // implicit TLS listener; empty disables it
	Domain         string
	Languages      []string
	IdleTimeout    time.Duration
	MaxConnections int
	// ProxyFrom are the load balancers that send a PROXY protocol header first.
	ProxyFrom []netip.Prefix
	// VisibilityDelay is how old a message's deposit time must be before IMAP shows it (and
	// before its deposit notification goes out). A message deposited in another region is
	// present everywhere within replication lag plus clock skew; with the delay above that,
	// no message appears beneath a UID a client already saw.
	VisibilityDelay time.Duration
}

// DefaultIMAP is the IMAP configuration with every variable unset.
func DefaultIMAP() IMAP {
	r := &reader{getenv: func(string) string { return "" }}
	return r.imap()
}

func (r *reader) imap() IMAP {
	c := IMAP{
		TLSAddr:        r.addr(EnvIMAPSAddr),
		Domain:         r.str(EnvIMAPDomain),
		Languages:      r.list(EnvIMAPLanguages),
		IdleTimeout:    r.dur(EnvIMAPIdleTimeout, time.Minute, 24*time.Hour),
		MaxConnections: r.integer(EnvIMAPMaxConnections, 1, 1<<20),
		// 0 serves a single region.
		VisibilityDelay: r.dur(EnvIMAPVisibilityDelay, 0, MaxIMAPVisibilityDelay),
	}
	c.ProxyFrom = r.prefixes(EnvIMAPProxyFrom)
	if strings.ContainsAny(c.Domain, " <>@\r\n") {
		r.bad(EnvIMAPDomain, "%q is not a domain name", c.Domain)
	}
	return c
}

func (c IMAP) environ(e *environ) {
	e.str(EnvIMAPSAddr, c.TLSAddr)
	e.str(EnvIMAPDomain, c.Domain)
	e.list(EnvIMAPLanguages, c.Languages)
	e.optDur(EnvIMAPIdleTimeout, c.IdleTimeout)
	e.optInt(EnvIMAPMaxConnections, c.MaxConnections)
	e.prefixes(EnvIMAPProxyFrom, c.ProxyFrom)
	if c.VisibilityDelay != DefaultIMAP().VisibilityDelay {
		e.dur(EnvIMAPVisibilityDelay, c.VisibilityDelay) // the default needs no line
	}
}
