package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/voicemail-platform/voicemail/app/internal/imap"
	"github.com/voicemail-platform/voicemail/app/internal/server"
	"github.com/voicemail-platform/voicemail/app/internal/sip"
)

// protocolServers tracks the SIP and IMAP servers running beside HTTP.
type protocolServers struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// startProtocols validates the SIP and IMAP configuration (errors name the variable) and starts
// the servers whose address is set. A server that fails to listen stops the whole process
// through cancel, so a stamp never runs with a protocol silently missing.
func startProtocols(ctx context.Context, cancel context.CancelCauseFunc, app *server.App, log *slog.Logger) (*protocolServers, error) {
	ps := &protocolServers{}
	cfg := app.Config
	var sipSrv *sip.Server
	if cfg.SIPAddr != "" {
		scfg, err := sip.ConfigFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		if sipSrv, err = sip.New(app.Service, scfg, log); err != nil {
			return nil, err // validation errors name their VOICEMAIL_SIP_* variable
		}
	}
	var imapSrv *imap.Server
	tlsAddr := os.Getenv(imap.EnvTLSAddr)
	if cfg.IMAPAddr != "" || tlsAddr != "" {
		icfg, err := imap.ConfigFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		icfg.Registerer = app.Metrics.Registry()
		imapSrv = imap.New(app.Service, icfg, log)
	}
	run := func(name string, f func() error) {
		ps.wg.Add(1)
		go func() {
			defer ps.wg.Done()
			if err := f(); err != nil && !errors.Is(err, context.Canceled) {
				ps.mu.Lock()
				ps.errs = append(ps.errs, fmt.Errorf("%s: %w", name, err))
				ps.mu.Unlock()
				cancel(err) // shuts HTTP down gracefully too
			}
		}()
	}
	if sipSrv != nil {
		run("sip", func() error { return sipSrv.Serve(ctx, cfg.SIPAddr) })
	}
	if imapSrv != nil {
		run("imap", func() error { return imapSrv.Run(ctx, cfg.IMAPAddr, tlsAddr) })
	}
	return ps, nil
}

// wait blocks until every protocol server has returned and reports their failures.
func (ps *protocolServers) wait() []error {
	ps.wg.Wait()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.errs
}
