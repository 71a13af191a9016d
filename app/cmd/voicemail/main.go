// Command voicemail is one stamp's voicemail process: HTTP API, health and metrics (and SIP and
// IMAP when configured). Configuration comes from VOICEMAIL_* environment variables; with no
// Azure storage configured it runs on the embedded store in VOICEMAIL_DATA_DIR.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/voicemail-platform/voicemail/app/internal/appconfig"
	"github.com/voicemail-platform/voicemail/app/internal/server"
)

func main() {
	switch {
	case len(os.Args) == 2 && os.Args[1] == "init-state":
		os.Exit(initState())
	case len(os.Args) >= 2 && os.Args[1] == "sip-targets":
		os.Exit(sipTargets(os.Args[2:]))
	case len(os.Args) > 1:
		fmt.Fprintf(os.Stderr, "usage: voicemail [init-state | sip-targets -host H -list FILE [-port P] [-once]]\n  unknown arguments %q\n", os.Args[1:])
		os.Exit(2)
	}
	os.Exit(run())
}

// initState creates the stamp's state marker if it does not exist, and exits: the workload's
// state-init Job runs it once when the stamp is created, so the stamp starts healthy.
func initState() int {
	cfg, err := appconfig.LoadForInitState(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	out, err := server.InitState(ctx, cfg)
	if err != nil {
		log.Error("init state", "stamp", cfg.Stamp, "stateBlob", cfg.StateBlob, "err", err)
		return 1
	}
	log.Info("init state", "stamp", cfg.Stamp, "stateBlob", cfg.StateBlob, "outcome", string(out))
	return 0
}

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

	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancelCause(sigCtx)
	defer cancel(nil)

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

	// SIP and IMAP share the service and stop with HTTP on SIGTERM. Each returns only after
	// its calls or sessions have ended (recordings stored), so the store closes after them.
	protocols, err := startProtocols(ctx, cancel, app, log)
	if err != nil {
		log.Error("start", "err", err)
		if errors.Is(err, errListen) {
			return 1
		}
		return 2 // configuration
	}

	serveErr := app.Serve(ctx, l)
	cancel(nil) // an HTTP failure also stops SIP and IMAP
	code := 0
	if serveErr != nil {
		log.Error("serve", "err", serveErr)
		code = 1
	}
	for _, err := range protocols.wait() {
		log.Error("protocol server", "err", err)
		code = 1
	}
	log.Info("stopped")
	return code
}
