package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/kamailio"
)

// sipTargets runs beside a stamp's Kamailio dispatcher (same pod, shared volume): it keeps the
// dispatcher list equal to the voicemail pods behind a headless Service. With -once it writes
// the list once and exits (the pod's init container, so Kamailio starts with a list).
func sipTargets(args []string) int {
	fs := flag.NewFlagSet("sip-targets", flag.ContinueOnError)
	host := fs.String("host", "", "headless Service name of the voicemail pods")
	port := fs.Int("port", 5060, "the pods' SIP port")
	list := fs.String("list", "", "dispatcher list file Kamailio reads")
	interval := fs.Duration("interval", 5*time.Second, "how often to resolve")
	once := fs.Bool("once", false, "write the list once and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *host == "" || *list == "" {
		fmt.Fprintln(os.Stderr, "sip-targets: -host and -list are required")
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	s := kamailio.TargetSync{Host: *host, Port: *port, ListFile: *list, Interval: *interval, Log: log}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *once {
		if _, err := s.Once(ctx); err != nil {
			log.Error("sip targets", "error", err)
			return 1
		}
		return 0
	}
	if err := s.Run(ctx); err != nil {
		log.Error("sip targets", "error", err)
		return 1
	}
	return 0
}
