// Command local runs the whole voicemail system on this machine from a stack file: two
// voicemail replicas per stamp behind the stamp's Kamailio dispatcher and HAProxy (grouped by
// region, each region with its own Azurite), a replicator between regions, the local Traffic
// Manager for HTTP and two instances of the operator edge (the generated Kamailio edge
// configuration for SIP, HAProxy for IMAP). It prints a table of stamps, ports and health,
// again whenever health changes, and stops everything on Ctrl-C.
//
//	go run ./app/cmd/local -stack dev
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/voicemail-platform/voicemail/app/local/runner"
	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func run() error {
	stack := flag.String("stack", "dev", "stack name (dev: Pulumi.dev.yaml in the project) or stack file")
	dir := flag.String("dir", "", "data and log directory (default: a temporary one, removed on exit)")
	bin := flag.String("bin", "", "voicemail binary (default: built from this module with go build)")
	tmAddr := flag.String("http", "127.0.0.1:8080", "Traffic Manager (HTTP API entry) listen address")
	sipAddr := flag.String("sip", "127.0.0.1:5060", "first edge's SIP address (Kamailio, UDP+TCP); the second takes a free port")
	imapAddr := flag.String("imap", "127.0.0.1:1143", "first edge's IMAP address (HAProxy); the second takes a free port")
	interval := flag.Duration("probe-interval", 0, "Traffic Manager probe interval (default: the stack's)")
	timeout := flag.Duration("probe-timeout", 0, "Traffic Manager probe timeout (default: the stack's)")
	cacheTTL := flag.Duration("health-cache", 10*time.Second, "stamps' health cache TTL")
	repl := flag.Duration("replication", time.Second, "replication delay between regions")
	verbose := flag.Bool("v", false, "log the runner's components (JSON) to stderr")
	flag.Parse()

	sf, err := config.FindStackFile(*stack, "")
	if err != nil {
		return err
	}
	cfg, err := config.LoadStackFile(sf.Path)
	if err != nil {
		return err
	}
	topo, err := topology.Build(cfg)
	if err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if *bin == "" {
		tmp, err := os.MkdirTemp("", "voicemail-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		fmt.Println("building the voicemail binary ...")
		if *bin, err = runner.BuildVoicemail(ctx, tmp); err != nil {
			return err
		}
	} else if *bin, err = filepath.Abs(*bin); err != nil {
		return err
	}
	fmt.Printf("starting %s (%s): %d region(s), %d stamp(s)\n", sf.Name, sf.Path, len(topo.Regions), len(topo.Stamps))
	if !topo.Capacity.RegionalRedundancy {
		fmt.Println("note: a single-region stack has no regional redundancy")
	}
	c, err := runner.Start(ctx, runner.Options{
		Topology: topo, VoicemailBin: *bin, Dir: *dir, SIP: true, IMAP: true,
		HealthCacheTTL: *cacheTTL, ProbeInterval: *interval, ProbeTimeout: *timeout,
		ReplicationInterval: *repl, TrafficManagerAddr: *tmAddr,
		EdgeSIPAddrs: []string{*sipAddr}, EdgeIMAPAddrs: []string{*imapAddr},
		Log: log,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("data and stamp logs: %s\n", c.Dir)
	fmt.Printf("stamps serve TLS with a self-signed certificate; trust it with: curl --cacert %s\n\n", c.Cert.CertFile)

	last := ""
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		rows := c.Rows(ctx)
		if s := runner.Summary(rows); s != last {
			last = s
			fmt.Printf("--- %s\n", time.Now().UTC().Format(time.RFC3339))
			c.WriteRows(os.Stdout, rows)
			fmt.Println()
		}
		select {
		case <-ctx.Done():
			fmt.Println("stopping ...")
			return nil
		case <-tick.C:
		}
	}
}
