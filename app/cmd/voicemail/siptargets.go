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

	"github.com/voicemail-platform/voicemail/app/internal/edgetls"
	"github.com/voicemail-platform/voicemail/app/internal/kamailio"
	"github.com/voicemail-platform/voicemail/contract"
)

// sipTargets runs beside a stamp's Kamailio dispatcher (same pod, shared volume): it keeps the
// dispatcher list equal to the voicemail pods behind a headless Service. With -once it writes
// the list once and exits (the pod's init container, so Kamailio starts with a list). With
// -cert it also reports the certificate file Kamailio serves SIP over TLS from (and reloads),
// as the stamp binary reports its own, so the edge certificate's expiry alert covers the
// dispatcher too.
func sipTargets(args []string) int {
	fs := flag.NewFlagSet("sip-targets", flag.ContinueOnError)
	host := fs.String("host", "", "headless Service name of the voicemail pods")
	port := fs.Int("port", 5060, "the pods' SIP port")
	list := fs.String("list", "", "dispatcher list file Kamailio reads")
	interval := fs.Duration("interval", 5*time.Second, "how often to resolve")
	once := fs.Bool("once", false, "write the list once and exit")
	cert := fs.String("cert", "", "PEM file (key and chain) of the dispatcher's TLS certificate, reported every "+contract.EdgeCertificateReportInterval.String())
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
	if *cert != "" {
		// Kamailio re-reads the file every 30 s (app/deploy); so does this.
		files, err := edgetls.Load(*cert, *cert, 30*time.Second, log)
		if err != nil {
			log.Error("sip targets: edge certificate", "error", err)
			return 1
		}
		go files.Report(ctx, contract.EdgeCertificateReportInterval)
	}
	if err := s.Run(ctx); err != nil {
		log.Error("sip targets", "error", err)
		return 1
	}
	return 0
}
