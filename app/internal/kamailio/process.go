package kamailio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/daemon"
)

// Binary is the Kamailio executable; tests and the local runner fail (never skip) without it.
const Binary = "/usr/sbin/kamailio"

// Write renders cfg into dir: kamailio.cfg and the dispatcher list (cfg.ListFile, default
// dir/dispatcher.list). It returns the path of kamailio.cfg.
func Write(dir string, cfg Config) (string, error) {
	if cfg.ListFile == "" {
		cfg.ListFile = filepath.Join(dir, "dispatcher.list")
	}
	if cfg.TLS != nil && cfg.TLS.ConfigFile == "" {
		t := *cfg.TLS
		t.ConfigFile = filepath.Join(dir, "tls.cfg")
		cfg.TLS = &t
	}
	text, err := cfg.Render()
	if err != nil {
		return "", err
	}
	if cfg.TLS != nil {
		if err := os.WriteFile(cfg.TLS.ConfigFile, []byte(cfg.TLS.ConfigText()), 0o644); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(cfg.ListFile, []byte(cfg.List()), 0o644); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kamailio.cfg")
	return path, os.WriteFile(path, []byte(text), 0o644)
}

// Process is a running Kamailio.
type Process struct {
	Config Config
	Dir    string
	Log    string // stderr and stdout of the daemon

	d *daemon.Daemon
}

// Start writes cfg into dir, checks it with kamailio -c, starts the daemon in the foreground
// and waits until its first TCP (or UDP) socket is bound.
func Start(ctx context.Context, dir string, cfg Config) (*Process, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, fmt.Errorf("kamailio: %s missing (Debian package kamailio): %w", Binary, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	if cfg.ListFile == "" {
		cfg.ListFile = filepath.Join(dir, "dispatcher.list")
	}
	path, err := Write(dir, cfg)
	if err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, Binary, "-c", "-f", path).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kamailio -c %s: %w\n%s", path, err, out)
	}
	p := &Process{Config: cfg, Dir: dir, Log: filepath.Join(dir, "kamailio.log")}
	// -DD: stay in the foreground, workers forked; -E: log to stderr.
	if p.d, err = daemon.Start(p.Log, Binary, "-f", path, "-DD", "-E", "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid")); err != nil {
		return nil, fmt.Errorf("kamailio: %w", err)
	}
	if err := p.waitListening(ctx, 10*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Process) waitListening(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		ok := true
		for _, l := range p.Config.Listen {
			if l.Proto == "udp" {
				continue // bound before any TCP socket; nothing to connect to
			}
			c, err := net.DialTimeout("tcp", l.Addr, 200*time.Millisecond)
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			// UDP-only: give the workers a moment after the checked start.
			return nil
		}
		select {
		case <-p.d.Done():
			return fmt.Errorf("kamailio exited during start: %v\n%s", p.d.Err(), p.Tail(3000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kamailio not listening after %v\n%s", d, p.Tail(3000))
		}
	}
}

// Addr is the address of the first socket of proto ("udp", "tcp").
func (p *Process) Addr(proto string) string {
	for _, l := range p.Config.Listen {
		if l.Proto == proto {
			return l.Addr
		}
	}
	return ""
}

// Control is kamcmd, Kamailio's RPC client (Debian package kamailio).
const Control = "/usr/sbin/kamcmd"

// Destinations returns the dispatcher's targets (their URIs) and whether each is active now,
// read through the RPC interface (Config.ControlAddr must be set). A target whose probes fail
// or that answers them 503 is inactive: no new dialog reaches it.
func (p *Process) Destinations(ctx context.Context) (map[string]bool, error) {
	if p.Config.ControlAddr == "" {
		return nil, errors.New("kamailio: no ControlAddr configured")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, Control, "-s", "tcp:"+p.Config.ControlAddr, "dispatcher.list").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("kamcmd dispatcher.list: %w: %s", err, out)
	}
	return parseDestinations(string(out)), nil
}

// parseDestinations reads kamcmd's dispatcher.list output: each DEST has a URI line and a
// FLAGS line whose first letter is A (active), I (inactive), D (disabled) or T (trying).
func parseDestinations(out string) map[string]bool {
	dests := map[string]bool{}
	uri := ""
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "URI":
			uri = v
		case "FLAGS":
			if uri != "" {
				dests[uri] = strings.HasPrefix(v, "A")
				uri = ""
			}
		}
	}
	return dests
}

// Tail returns the end of the daemon's log.
func (p *Process) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Stop ends the daemon and its workers (SIGTERM to the process group, SIGKILL after 5 s).
func (p *Process) Stop() {
	if p == nil {
		return
	}
	p.d.Stop()
}

// Exited reports whether the daemon has stopped, with its error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.d.Done():
		if err := p.d.Err(); err != nil && !strings.Contains(err.Error(), "signal") {
			return true, err
		}
		return true, nil
	default:
		return false, nil
	}
}
