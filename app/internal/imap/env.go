package imap

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Environment variables read by ConfigFromEnv. VOICEMAIL_IMAP_ADDR (plain IMAP with STARTTLS)
// and VOICEMAIL_IMAPS_ADDR (implicit TLS) are the listen addresses passed to Run.
const (
	EnvAddr           = "VOICEMAIL_IMAP_ADDR"
	EnvTLSAddr        = "VOICEMAIL_IMAPS_ADDR"
	EnvTLSCert        = "VOICEMAIL_IMAP_TLS_CERT"
	EnvTLSKey         = "VOICEMAIL_IMAP_TLS_KEY"
	EnvRequireTLS     = "VOICEMAIL_IMAP_REQUIRE_TLS"
	EnvDomain         = "VOICEMAIL_IMAP_DOMAIN"
	EnvLanguages      = "VOICEMAIL_IMAP_LANGUAGES"
	EnvIdleTimeout    = "VOICEMAIL_IMAP_IDLE_TIMEOUT"
	EnvMaxConnections = "VOICEMAIL_IMAP_MAX_CONNECTIONS"
)

// ConfigFromEnv builds a Config from VOICEMAIL_IMAP_* variables (getenv is usually os.Getenv).
// Errors name the offending variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var cfg Config
	cert, key := getenv(EnvTLSCert), getenv(EnvTLSKey)
	switch {
	case cert != "" && key != "":
		t, err := LoadTLS(cert, key)
		if err != nil {
			return Config{}, fmt.Errorf("%s/%s: %w", EnvTLSCert, EnvTLSKey, err)
		}
		cfg.TLS = t
	case cert != "" || key != "":
		return Config{}, fmt.Errorf("%s and %s must be set together", EnvTLSCert, EnvTLSKey)
	}
	if v := getenv(EnvRequireTLS); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %q is not a boolean", EnvRequireTLS, v)
		}
		if b && cfg.TLS == nil {
			return Config{}, fmt.Errorf("%s needs %s and %s", EnvRequireTLS, EnvTLSCert, EnvTLSKey)
		}
		cfg.RequireTLS = b
	}
	if v := getenv(EnvTLSAddr); v != "" && cfg.TLS == nil {
		return Config{}, fmt.Errorf("%s needs %s and %s", EnvTLSAddr, EnvTLSCert, EnvTLSKey)
	}
	cfg.Domain = getenv(EnvDomain)
	if strings.ContainsAny(cfg.Domain, " <>@\r\n") {
		return Config{}, fmt.Errorf("%s: %q is not a domain name", EnvDomain, cfg.Domain)
	}
	if v := getenv(EnvLanguages); v != "" {
		for _, l := range strings.Split(v, ",") {
			if l = strings.TrimSpace(l); l != "" {
				cfg.Languages = append(cfg.Languages, l)
			}
		}
	}
	if v := getenv(EnvIdleTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return Config{}, fmt.Errorf("%s: %q must be a duration of at least 1m", EnvIdleTimeout, v)
		}
		cfg.IdleTimeout = d
	}
	if v := getenv(EnvMaxConnections); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Config{}, fmt.Errorf("%s: %q must be a positive integer", EnvMaxConnections, v)
		}
		cfg.MaxConnections = n
	}
	return cfg, nil
}

// Run serves plain IMAP on addr and implicit TLS on tlsAddr (either may be empty to disable
// it) until ctx ends or a listener fails; it returns after every session has closed.
func (s *Server) Run(ctx context.Context, addr, tlsAddr string) error {
	if addr == "" && tlsAddr == "" {
		return errors.New("imap: no listen address")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	n := 0
	for _, l := range []struct {
		addr     string
		implicit bool
	}{{addr, false}, {tlsAddr, true}} {
		if l.addr == "" {
			continue
		}
		n++
		go func() {
			var err error
			if l.implicit {
				err = s.ServeTLS(ctx, l.addr)
			} else {
				err = s.Serve(ctx, l.addr)
			}
			if err != nil {
				cancel() // one listener failing stops the other, so the process notices
			}
			errs <- err
		}()
	}
	var first error
	for ; n > 0; n-- {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
