package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/voicemail-platform/voicemail/contract"
)

// FromContract builds a Config from the stamp contract's IMAP settings and the stamp's TLS
// configuration (nil: no certificate). With TLS, login waits for it (LOGINDISABLED before
// STARTTLS). Errors name the offending variable.
func FromContract(c contract.IMAP, tlsCfg *tls.Config) (Config, error) {
	cfg := Config{
		TLS: tlsCfg, Domain: c.Domain, Languages: c.Languages,
		IdleTimeout: c.IdleTimeout, MaxConnections: c.MaxConnections, ProxyFrom: c.ProxyFrom,
		VisibilityDelay: c.VisibilityDelay,
	}
	if c.TLSAddr != "" && cfg.TLS == nil {
		return Config{}, fmt.Errorf("%s needs %s and %s", contract.EnvIMAPSAddr.Name, contract.EnvTLSCert.Name, contract.EnvTLSKey.Name)
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
