// Command manager is the regional management service (package manager): it probes every
// stamp of its region, drains a failing stamp by deleting its state blob and restores it by
// writing the blob back, and gives operators a drain/undrain API that it never overrides.
//
// Home: the region's Azure Functions app, as a custom handler (functionapp/ holds host.json
// and one function.json per function; the zip is this binary, named "manager", beside them).
// The "probe" timer trigger fires every 10 s and the host POSTs it to /probe; the operator
// API is two HTTP-trigger functions forwarded as-is to /api/stamps[/{id}/{drain|undrain}].
// Why there and not in a stamp's AKS cluster: the manager must outlive any one stamp (it is
// what drains a broken one), one per region is enough because it only judges its own region's
// stamps, and the Functions app already runs per region with a managed identity that has
// Blob Data Contributor on the regional state container. A timer trigger runs on one instance
// at a time (the host's blob lease), and the manager's state is a blob written with ETag
// preconditions, so a scale-out or restart never loses or duplicates a decision.
//
// Outside Functions (local runs), set an interval (contract.EnvManagerInterval) to tick by itself.
// "manager package -o manager.zip" writes the run-from-package zip (package.go).
// Configuration: environment variables, see contract.LoadManager.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/voicemail-platform/voicemail/app/manager"
	"github.com/voicemail-platform/voicemail/contract"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// The Functions host starts the handler without arguments (host.json), so a first
	// argument can only come from a person or the pipeline.
	if len(os.Args) > 1 && os.Args[1] == "package" {
		if err := runPackage(os.Args[2:], os.Stdout); err != nil {
			log.Error("package", "err", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, os.Getenv); err != nil {
		log.Error("manager stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx ends; getenv is os.Getenv (tests pass their own, so they can run in
// parallel).
func run(ctx context.Context, log *slog.Logger, getenv func(string) string) error {
	cfg, err := contract.LoadManager(getenv)
	if err != nil {
		return err
	}
	var store *manager.Container
	if cfg.ConnectionString != "" {
		store, err = manager.NewContainerFromConnectionString(cfg.ConnectionString, cfg.Container, cfg.StateBlob)
		if err == nil {
			err = store.EnsureContainer(ctx)
		}
	} else {
		// Managed identity on Functions (AZURE_CLIENT_ID picks a user-assigned one).
		var cred *azidentity.DefaultAzureCredential
		cred, err = azidentity.NewDefaultAzureCredential(nil)
		if err == nil {
			store, err = manager.NewContainerFromURL(cfg.ContainerURL, cred, cfg.StateBlob)
		}
	}
	if err != nil {
		return fmt.Errorf("state container: %w", err)
	}
	prober := manager.HTTPProber{
		Client:         &http.Client{Timeout: cfg.ProbeTimeout + time.Second},
		Path:           cfg.HealthPath,
		StateComponent: cfg.StateComponent,
	}
	rules := manager.Config{
		Region: cfg.Region, Stamps: cfg.Stamps, FailThreshold: cfg.FailThreshold,
		RecoverThreshold: cfg.RecoverThreshold, HistoryLen: cfg.HistoryLen, ProbeTimeout: cfg.ProbeTimeout,
	}
	m, err := manager.New(rules, store, store, prober, nil, log)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           &manager.Handler{M: m, OperatorToken: cfg.OperatorToken, TokenUnresolved: cfg.OperatorTokenUnresolved, Log: log},
		ReadHeaderTimeout: 5 * time.Second,
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	if cfg.OperatorTokenUnresolved {
		log.Error("operator API disabled: the operator token is an unresolved Key Vault reference", "var", contract.EnvManagerOperatorToken.Name)
	}
	log.Info("manager listening", "addr", ln.Addr().String(), "region", cfg.Region, "stamps", len(cfg.Stamps))

	if cfg.Interval > 0 {
		go func() {
			t := time.NewTicker(cfg.Interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if _, err := m.Tick(ctx); err != nil {
						log.Error("tick", "err", err)
					}
				}
			}
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
