// Command gateway is the protocol gateway for SIP and IMAP: it routes each new SIP dialog and
// IMAP connection to a healthy stamp. Configuration is read from GATEWAY_* environment
// variables (see gateway.FromEnv). Instances share no state; run two or more behind a load
// balancer.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/voicemail-platform/voicemail/app/gateway"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("gateway", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	cfg, err := gateway.FromEnv(os.Getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg.Gateway.Logger = log
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	g, err := gateway.Start(startCtx, cfg.Gateway)
	cancel()
	if err != nil {
		return err
	}
	defer g.Close()
	log.Info("gateway listening", "sip", g.SIPAddr(), "imap", g.IMAPAddr(), "up", g.Pool().Up())

	if cfg.AdminAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /health/liveness", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
		})
		mux.HandleFunc("GET /stamps", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"up": g.Pool().Up()})
		})
		srv := &http.Server{Addr: cfg.AdminAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin listener", "error", err)
				stop()
			}
		}()
		defer func() {
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			_ = srv.Shutdown(sctx)
		}()
	}
	<-ctx.Done()
	log.Info("gateway stopping")
	return nil
}
