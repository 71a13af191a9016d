package contract

import (
	"strings"
	"time"
)

// The stamp binary's IMAP variables. EnvIMAPAddr (plain IMAP with STARTTLS) is a core
// variable; EnvIMAPSAddr is the implicit-TLS listener.
var (
	EnvIMAPSAddr          = Var{"VOICEMAIL_IMAPS_ADDR", "", "implicit-TLS IMAP listen address; empty disables it; needs the certificate"}
	EnvIMAPTLSCert        = Var{"VOICEMAIL_IMAP_TLS_CERT", "", "PEM certificate chain file for STARTTLS and implicit TLS"}
	EnvIMAPTLSKey         = Var{"VOICEMAIL_IMAP_TLS_KEY", "", "PEM private key file of the certificate"}
	EnvIMAPRequireTLS     = Var{"VOICEMAIL_IMAP_REQUIRE_TLS", "false", "refuse login before TLS"}
	EnvIMAPDomain         = Var{"VOICEMAIL_IMAP_DOMAIN", "voicemail.invalid", "host part of From/To/Message-ID addresses"}
	EnvIMAPLanguages      = Var{"VOICEMAIL_IMAP_LANGUAGES", "", "comma-separated languages numbered 1.. for XCHANGE_VM_LANG LANG=<n>"}
	EnvIMAPIdleTimeout    = Var{"VOICEMAIL_IMAP_IDLE_TIMEOUT", "30m", "autologout of an idle connection (at least 1m)"}
	EnvIMAPMaxConnections = Var{"VOICEMAIL_IMAP_MAX_CONNECTIONS", "1000", "concurrent IMAP sessions"}
)

func imapVars() []Var {
	return []Var{
		EnvIMAPSAddr, EnvIMAPTLSCert, EnvIMAPTLSKey, EnvIMAPRequireTLS, EnvIMAPDomain,
		EnvIMAPLanguages, EnvIMAPIdleTimeout, EnvIMAPMaxConnections,
	}
}

// IMAP is the IMAP server's configuration as the environment gives it. The imap package turns
// it into its own Config (loading the certificate files).
type IMAP struct {
	TLSAddr        string // implicit TLS listener; empty disables it
	TLSCert        string // PEM file
	TLSKey         string // PEM file
	RequireTLS     bool
	Domain         string
	Languages      []string
	IdleTimeout    time.Duration
	MaxConnections int
}

// DefaultIMAP is the IMAP configuration with every variable unset.
func DefaultIMAP() IMAP {
	r := &reader{getenv: func(string) string { return "" }}
	return r.imap()
}

func (r *reader) imap() IMAP {
	c := IMAP{
		TLSAddr:        r.addr(EnvIMAPSAddr),
		TLSCert:        r.str(EnvIMAPTLSCert),
		TLSKey:         r.str(EnvIMAPTLSKey),
		RequireTLS:     r.boolean(EnvIMAPRequireTLS),
		Domain:         r.str(EnvIMAPDomain),
		Languages:      r.list(EnvIMAPLanguages),
		IdleTimeout:    r.dur(EnvIMAPIdleTimeout, time.Minute, 24*time.Hour),
		MaxConnections: r.integer(EnvIMAPMaxConnections, 1, 1<<20),
	}
	hasCert := c.TLSCert != "" && c.TLSKey != ""
	switch {
	case (c.TLSCert != "") != (c.TLSKey != ""):
		r.bad(EnvIMAPTLSCert, "%s and %s must be set together", EnvIMAPTLSCert.Name, EnvIMAPTLSKey.Name)
	case c.RequireTLS && !hasCert:
		r.bad(EnvIMAPRequireTLS, "needs %s and %s", EnvIMAPTLSCert.Name, EnvIMAPTLSKey.Name)
	case c.TLSAddr != "" && !hasCert:
		r.bad(EnvIMAPSAddr, "needs %s and %s", EnvIMAPTLSCert.Name, EnvIMAPTLSKey.Name)
	}
	if strings.ContainsAny(c.Domain, " <>@\r\n") {
		r.bad(EnvIMAPDomain, "%q is not a domain name", c.Domain)
	}
	return c
}

func (c IMAP) environ(e *environ) {
	e.str(EnvIMAPSAddr, c.TLSAddr)
	e.str(EnvIMAPTLSCert, c.TLSCert)
	e.str(EnvIMAPTLSKey, c.TLSKey)
	e.boolean(EnvIMAPRequireTLS, c.RequireTLS)
	e.str(EnvIMAPDomain, c.Domain)
	e.list(EnvIMAPLanguages, c.Languages)
	e.optDur(EnvIMAPIdleTimeout, c.IdleTimeout)
	e.optInt(EnvIMAPMaxConnections, c.MaxConnections)
}
