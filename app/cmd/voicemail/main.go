// Command voicemail is one stamp's voicemail process: HTTP API, health and metrics (and SIP and
// IMAP when configured). Its configuration is the stamp contract (contract.LoadStamp); with no
// Azure storage configured it runs on the embedded store in its data directory.
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

	"github.com/voicemail-platform/voicemail/app/internal/server"
	"github.com/voicemail-platform/voicemail/contract"
)

func main() {
	switch {
	case len(os.Args) == 2 && os.Args[1] == contract.InitStateArg:
		os.Exit(initState())
	case len(os.Args) >= 2 && os.Args[1] == "sip-targets":
		os.Exit(sipTargets(os.Args[2:]))
	case len(os.Args) > 1:
		fmt.Fprintf(os.Stderr, "usage: voicemail [%s | sip-targets -host H -list FILE [-port P] [-once] [-cert FILE]]\n  unknown arguments %q\n", contract.InitStateArg, os.Args[1:])
		os.Exit(2)
	}
	os.Exit(run())
}

// initState creates the stamp's state marker if it does not exist, and exits: the workload's
// state-init Job runs it once when the stamp is created, so the stamp starts healthy.
func initState() int {
	cfg, err := contract.LoadStampForInitState(os.Getenv)
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
	cfg, err := contract.LoadStamp(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if err := server.EnsureLocalToken(&cfg); err != nil {
		log.Error("operator token", "err", err)
		return 2
	}
	if cfg.OperatorTokenFile != "" {
		log.Warn(contract.EnvOperatorToken.Name+" unset; using a generated token for this local store", "file", cfg.OperatorTokenFile)
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
		log.Error("listen", "var", contract.EnvHTTPAddr.Name, "err", err)
		return 1
	}
	var metricsDone chan error
	if cfg.MetricsAddr != "" {
		ml, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			log.Error("listen", "var", contract.EnvMetricsAddr.Name, "err", err)
			return 1
		}
		metricsDone = make(chan error, 1)
		go func() {
			err := app.ServeMetrics(ctx, ml)
			if err != nil {
				cancel(err) // a process without metrics stops rather than runs unobserved
			}
			metricsDone <- err
		}()
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
	if metricsDone != nil {
		if err := <-metricsDone; err != nil {
			log.Error("metrics", "err", err)
			code = 1
		}
	}
	log.Info("stopped")
	return code
}
