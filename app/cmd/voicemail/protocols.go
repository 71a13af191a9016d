package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/voicemail-platform/voicemail/app/internal/health"
	"github.com/voicemail-platform/voicemail/app/internal/imap"
	"github.com/voicemail-platform/voicemail/app/internal/server"
	"github.com/voicemail-platform/voicemail/app/internal/sip"
)

// errListen marks a start failure that is not a configuration error (exit 1, not 2).
var errListen = errors.New("listen")

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
		var err error
		if sipSrv, err = sip.New(app.Service, cfg.SIP, log); err != nil {
			return nil, err // validation errors name the SIP variable at fault
		}
		// OPTIONS follows the stamp's stores and its state blob (the cached stamp health
		// round): a replica that cannot reach its stores, or whose stamp the management service
		// drained, answers 503, so the stamp dispatcher has no target left, answers its own
		// probes 503, and the SBC (RFC 3263) or the edge moves new calls to another stamp; SRV
		// records follow only the stack's drain. Calls in progress go on, and INVITEs that still
		// arrive are served. The health model's own verdict (latency) is left to HTTP.
		sipSrv.SetHealth(func(ctx context.Context) error {
			rep := app.Health.Check(ctx)
			for _, c := range []string{health.MetadataRead, health.MetadataWrite, health.Queue, health.State} {
				if r, ok := rep.Components[c]; !ok || !r.Healthy {
					return fmt.Errorf("stamp store unhealthy: %v", rep.Unhealthy)
				}
			}
			return nil
		})
	}
	var imapSrv *imap.Server
	tlsAddr := cfg.IMAP.TLSAddr
	if cfg.IMAPAddr != "" || tlsAddr != "" {
		icfg, err := imap.FromContract(cfg.IMAP, app.TLSConfig())
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
	// Bind every listener before HTTP serves, so a port that is taken stops the process while
	// it is still not live, rather than after probes have seen it healthy.
	if imapSrv != nil {
		for _, l := range []struct {
			addr     string
			implicit bool
		}{{cfg.IMAPAddr, false}, {tlsAddr, true}} {
			if l.addr == "" {
				continue
			}
			ln, err := net.Listen("tcp", l.addr)
			if err != nil {
				ps.stop(cancel)
				return nil, fmt.Errorf("%w: imap %s: %w", errListen, l.addr, err)
			}
			run("imap", func() error { return imapSrv.ServeListener(ctx, ln, l.implicit) })
		}
	}
	if sipSrv != nil {
		run("sip", func() error { return sipSrv.Serve(ctx, cfg.SIPAddr) })
		select {
		case <-sipSrv.Ready():
		case <-ctx.Done():
			if errs := ps.stop(cancel); len(errs) > 0 {
				return nil, fmt.Errorf("%w: %w", errListen, errors.Join(errs...))
			}
			return nil, context.Cause(ctx) // stopped by a signal while starting
		}
	}
	return ps, nil
}

// stop cancels the servers started so far and waits for them (a failed start).
func (ps *protocolServers) stop(cancel context.CancelCauseFunc) []error {
	cancel(errors.New("start failed"))
	return ps.wait()
}

// wait blocks until every protocol server has returned and reports their failures.
func (ps *protocolServers) wait() []error {
	ps.wg.Wait()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.errs
}
