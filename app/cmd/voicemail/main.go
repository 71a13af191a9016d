// Command voicemail is one stamp's voicemail process: HTTP API, health and metrics (and SIP and
// IMAP when configured). Configuration comes from VOICEMAIL_* environment variables; with no
// Azure storage configured it runs on the embedded store in VOICEMAIL_DATA_DIR.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/voicemail-platform/voicemail/app/internal/appconfig"
	"github.com/voicemail-platform/voicemail/app/internal/server"
)

func main() { os.Exit(run()) }

func run() int {
	cfg, err := appconfig.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if err := cfg.EnsureLocalToken(); err != nil {
		log.Error("operator token", "err", err)
		return 2
	}
	if cfg.OperatorTokenFile != "" {
		log.Warn("VOICEMAIL_OPERATOR_TOKEN unset; using a generated token for this local store", "file", cfg.OperatorTokenFile)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	app, err := server.New(ctx, cfg, log)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	defer app.Close()
	l, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		log.Error("listen", "var", "VOICEMAIL_HTTP_ADDR", "err", err)
		return 1
	}

	// ---- SIP and IMAP servers: wired here by the lead. ----
	// Both use app.Service (the *voicemail.Service). Start them with ctx so SIGTERM stops them
	// together with HTTP, e.g.
	//   if cfg.SIPAddr != "" { go sip.Serve(ctx, cfg.SIPAddr, app.Service, log) }
	//   if cfg.IMAPAddr != "" { go imap.Serve(ctx, cfg.IMAPAddr, app.Service, log) }
	// ---- end SIP and IMAP ----

	if err := app.Serve(ctx, l); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
