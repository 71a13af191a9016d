// Package server assembles the voicemail process from its configuration: storage backend,
// service and queue drainer, HTTP API, health, metrics, and graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/voicemail-platform/voicemail/app/internal/edgetls"
	"github.com/voicemail-platform/voicemail/app/internal/health"
	"github.com/voicemail-platform/voicemail/app/internal/httpapi"
	"github.com/voicemail-platform/voicemail/app/internal/metrics"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/internal/store/embedded"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/contract"
)

// App is one voicemail process.
type App struct {
	Config  contract.Stamp
	Log     *slog.Logger
	Backend *store.Backend
	Service *voicemail.Service
	Health  *health.Service
	Metrics *metrics.Metrics
	// Mux holds every public HTTP route; Handler is Mux wrapped with metrics and the health
	// model. Metrics are not among them: ServeMetrics serves them on their own listener.
	Mux     *http.ServeMux
	Handler http.Handler
	// TLS is the edge certificate (nil without one): Serve then speaks HTTPS only, and the
	// IMAP server uses the same certificate.
	TLS *edgetls.Files

	drainStop context.CancelFunc
	drainDone chan struct{}
	closeOnce sync.Once
}

// OpenBackend opens the storage the configuration selects.
// log receives the store's notices (a Table endpoint passed over and back); nil discards them.
func OpenBackend(ctx context.Context, cfg contract.Stamp, log *slog.Logger) (*store.Backend, error) {
	if !cfg.Azure() {
		b, err := embedded.Open(cfg.DataDir, embedded.Options{StateFile: cfg.StateBlob})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", contract.EnvDataDir.Name, err)
		}
		return b, nil
	}
	ac := azure.Config{
		ConnectionString: cfg.ConnectionString,
		TableEndpoint:    cfg.TableEndpoint, BlobEndpoint: cfg.BlobEndpoint, QueueEndpoint: cfg.QueueEndpoint,
		TableFallbackEndpoints: cfg.TableFallbackEndpoints,
		Table:                  cfg.Table, AudioContainer: cfg.AudioContainer, Queue: cfg.Queue, NotifyQueue: cfg.NotifyQueue,
		StateContainer: cfg.StateContainer, StateBlob: cfg.StateBlob,
		BlobRegions: cfg.BlobRegions, Log: log,
		// With Azurite the process owns its little world, so it starts in service. In Azure the
		// stamp's state-init Job (InitState) creates the state blob once, at stamp creation.
		WriteInitialState: cfg.ConnectionString != "",
	}
	if cfg.ConnectionString == "" {
		cred, err := azidentity.NewDefaultAzureCredential(nil) // workload identity in AKS
		if err != nil {
			return nil, fmt.Errorf("azure credential: %w", err)
		}
		ac.Credential = cred
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := azure.Open(octx, ac)
	if err != nil {
		return nil, fmt.Errorf("azure storage: %w", err)
	}
	return b, nil
}

// New builds the process and starts the queue drainer.
func New(ctx context.Context, cfg contract.Stamp, log *slog.Logger) (*App, error) {
	var certs *edgetls.Files
	if cfg.TLS.Enabled() {
		var err error
		if certs, err = edgetls.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CheckInterval, log); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", contract.EnvTLSCert.Name, contract.EnvTLSKey.Name, err)
		}
	}
	b, err := OpenBackend(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	m := metrics.New()
	if certs != nil {
		m.EdgeCertificate(certs.NotAfter)
	}
	svc, err := voicemail.New(voicemail.Options{
		Backend: b, Region: cfg.Region, Node: cfg.Region + "/" + cfg.Stamp, Logger: log,
		Auth: voicemail.AuthPolicy(cfg.PIN), AllowGuessablePINs: cfg.AllowGuessablePINs, CountryCode: cfg.CountryCode,
		DrainInterval: cfg.DrainInterval, DrainVisibility: cfg.DrainVisibility, StoreTimeout: cfg.StoreTimeout, Observer: m,
		MWIDomains: cfg.SIP.MWIDomains, NoticeDelay: noticeDelay(cfg),
	})
	if err != nil {
		if b.Close != nil {
			_ = b.Close()
		}
		return nil, err
	}
	hs := health.New(health.Options{
		Backend: b, Stamp: cfg.Stamp, Region: cfg.Region,
		Timeout: cfg.HealthTimeout, CacheTTL: cfg.HealthCacheTTL, Recorder: m, Logger: log,
		Model: health.ModelOptions{Window: cfg.HealthWindow},
	})
	mux := http.NewServeMux()
	httpapi.New(httpapi.Options{Service: svc, OperatorToken: cfg.OperatorToken, Logger: log}).Register(mux)
	hs.Register(mux)
	a := &App{
		Config: cfg, Log: log, Backend: b, Service: svc, Health: hs, Metrics: m, Mux: mux, TLS: certs,
		Handler: m.Instrument(mux, func(o metrics.Observation) { hs.Observe(o.Route, o.Code, o.Work) }),
	}
	dctx, stop := context.WithCancel(context.Background())
	a.drainStop, a.drainDone = stop, make(chan struct{})
	go func() { defer close(a.drainDone); svc.Run(dctx) }()
	if certs != nil {
		go certs.Report(dctx, contract.EdgeCertificateReportInterval)
	}
	return a, nil
}

// noticeDelay holds deposit notifications until IMAP shows the message, when IMAP is served:
// a visual voicemail client syncs on the notice.
func noticeDelay(cfg contract.Stamp) time.Duration {
	if cfg.IMAPAddr == "" && cfg.IMAP.TLSAddr == "" {
		return 0
	}
	return cfg.IMAP.VisibilityDelay
}

// TLSConfig is the edge certificate's server configuration, nil without a certificate.
func (a *App) TLSConfig() *tls.Config {
	if a.TLS == nil {
		return nil
	}
	return a.TLS.Config()
}

// ServeMetrics serves contract.MetricsPath in plain HTTP on l until ctx ends. It is meant for
// a port that only the cluster's scraper reaches (no public Service port); every other path is
// 404, so the health and API routes are not reachable around TLS through it.
func (a *App) ServeMetrics(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET "+contract.MetricsPath, a.Metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn)}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	a.Log.Info("metrics listening", "addr", l.Addr().String(), "path", contract.MetricsPath)
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}

// Serve serves the API on l (HTTPS with the edge certificate, else HTTP) until ctx ends, then
// shuts down gracefully: /health/ready turns 503, after ShutdownDelay the listener closes,
// and in-flight requests (deposits) get ShutdownGrace to finish. It returns nil after a clean
// shutdown.
func (a *App) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // long recordings upload slowly from phones
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	if a.TLS != nil {
		// The certificate comes from GetCertificate, re-read when its files change.
		srv.TLSConfig = a.TLS.Config()
		go func() { errc <- srv.ServeTLS(l, "", "") }()
	} else {
		go func() { errc <- srv.Serve(l) }()
	}
	a.Log.Info("http listening", "addr", l.Addr().String(), "tls", a.TLS != nil, "region", a.Config.Region, "stamp", a.Config.Stamp, "azure", a.Config.Azure())
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	a.Log.Info("shutting down", "grace", a.Config.ShutdownGrace.String())
	a.Health.SetReady(false)
	if a.Config.ShutdownDelay > 0 {
		time.Sleep(a.Config.ShutdownDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("in-flight requests did not finish within %s: %w", a.Config.ShutdownGrace, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.Log.Info("http stopped; in-flight requests finished")
	return nil
}

// notifyFlushTimeout bounds the wait for deposit notifications at Close; it fits the margin the
// pod spec leaves after the shutdown grace (deploy.TerminationGraceSecond).
const notifyFlushTimeout = 3 * time.Second

// Close sends the deposit notifications still in flight (for at most notifyFlushTimeout), stops
// the drainer and closes the backend.
func (a *App) Close() error {
	var err error
	a.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), notifyFlushTimeout)
		if ferr := a.Service.FlushNotifications(ctx); ferr != nil {
			a.Log.Warn("closing with deposit notifications unsent", "err", ferr)
		}
		cancel()
		a.drainStop()
		<-a.drainDone
		if a.Backend.Close != nil {
			err = a.Backend.Close()
		}
	})
	return err
}
