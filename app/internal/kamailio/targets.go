package kamailio

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// TargetSync keeps a stamp dispatcher's list file equal to the voicemail replicas that exist:
// it resolves a headless Service's name (one A record per pod, ready or not, so a draining pod
// stays listed and answers its in-dialog requests while its probes fail) and rewrites the
// list when the set changes. Kamailio re-reads the file every Config.ReloadInterval.
type TargetSync struct {
	Host     string // e.g. "voicemail-sip.voicemail.svc.cluster.local"
	Port     int    // the replicas' SIP port
	ListFile string
	Interval time.Duration // default 5 s
	// Resolve looks Host up; default net.DefaultResolver.LookupHost.
	Resolve func(ctx context.Context, host string) ([]string, error)
	Log     *slog.Logger
}

// Once resolves and writes the list if it changed; it reports whether it wrote.
func (s TargetSync) Once(ctx context.Context) (bool, error) {
	resolve := s.Resolve
	if resolve == nil {
		resolve = net.DefaultResolver.LookupHost
	}
	addrs, err := resolve(ctx, s.Host)
	if err != nil {
		if dnsErr, ok := err.(*net.DNSError); !ok || !dnsErr.IsNotFound {
			return false, fmt.Errorf("resolve %s: %w", s.Host, err)
		}
		addrs = nil // no pod yet: an empty list, every new dialog gets 503
	}
	slices.Sort(addrs)
	var cfg Config
	for _, a := range slices.Compact(addrs) {
		cfg.Targets = append(cfg.Targets, Target{URI: "sip:" + net.JoinHostPort(a, strconv.Itoa(s.Port))})
	}
	list := cfg.List()
	if old, err := os.ReadFile(s.ListFile); err == nil && string(old) == list {
		return false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.ListFile), ".dispatcher-*.list")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(list); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	return true, os.Rename(tmp.Name(), s.ListFile) // atomic: Kamailio never reads half a list
}

// Run calls Once every Interval until ctx ends; resolution errors are logged and retried.
func (s TargetSync) Run(ctx context.Context) error {
	if s.Interval <= 0 {
		s.Interval = 5 * time.Second
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if wrote, err := s.Once(ctx); err != nil {
			s.Log.Warn("sip targets", "host", s.Host, "error", err)
		} else if wrote {
			s.Log.Info("sip targets written", "host", s.Host, "file", s.ListFile)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
