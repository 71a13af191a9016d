// Package haproxy generates the reference IMAP balancer of the operator edge, a HAProxy
// configuration from the stack topology, and runs the daemon for local deployments and tests.
// Every stamp is a TCP server whose health is its own GET contract.StampHealthPath (200 in rotation, 503
// drained or failing), so a drained or failing stamp takes no new IMAP connections; stamps of
// a lower priority are backups used only when every stamp of the best priority is down.
package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/voicemail-platform/voicemail/contract"
)

// Binary is HAProxy; tests and the local runner fail (never skip) without it.
const Binary = "/usr/sbin/haproxy"

// Stamp is one backend server.
type Stamp struct {
	Name string // [a-z0-9-]
	IMAP string // host:port of the stamp's IMAP
	// Health is host:port serving the stamp's health; HealthPath its path (default
	// contract.StampHealthPath). One backend checks one path, so every stamp names the same.
	Health, HealthPath string
	Priority           int // lowest first; higher ones are backups
	Weight             int // 1-256, default 1
}

// Config is one HAProxy instance.
type Config struct {
	Listen string // host:port for IMAP clients
	Stamps []Stamp
	// CheckInterval is how often each stamp's health is fetched; Fall and Rise how many
	// results in a row change its state. Defaults 2 s, 2, 2.
	CheckInterval time.Duration
	Fall, Rise    int
	// IdleTimeout closes a silent connection; above IMAP IDLE's 29-minute refresh (RFC 2177).
	// Default 31 min.
	IdleTimeout time.Duration
}

// Render returns haproxy.cfg.
func (c Config) Render() (string, error) {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return "", fmt.Errorf("haproxy: listen %q: %w", c.Listen, err)
	}
	if len(c.Stamps) == 0 {
		return "", errors.New("haproxy: no stamps")
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = 2 * time.Second
	}
	if c.Fall <= 0 {
		c.Fall = 2
	}
	if c.Rise <= 0 {
		c.Rise = 2
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 31 * time.Minute
	}
	best := c.Stamps[0].Priority
	for i, s := range c.Stamps {
		if s.Name == "" || strings.Trim(s.Name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return "", fmt.Errorf("haproxy: stamp name %q", s.Name)
		}
		for _, a := range []string{s.IMAP, s.Health} {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return "", fmt.Errorf("haproxy: stamp %s: %q: %w", s.Name, a, err)
			}
		}
		if s.HealthPath == "" {
			c.Stamps[i].HealthPath = contract.StampHealthPath
		}
		if strings.ContainsAny(c.Stamps[i].HealthPath, " \r\n") {
			return "", fmt.Errorf("haproxy: stamp %s: health path %q", s.Name, s.HealthPath)
		}
		if p := c.Stamps[i].HealthPath; p != c.Stamps[0].HealthPath {
			return "", fmt.Errorf("haproxy: stamp %s: health path %q differs from stamp %s's %q (one backend checks one path)",
				s.Name, p, c.Stamps[0].Name, c.Stamps[0].HealthPath)
		}
		if s.Weight <= 0 {
			c.Stamps[i].Weight = 1
		}
		best = min(best, s.Priority)
	}
	var b bytes.Buffer
	err := tmpl.Execute(&b, map[string]any{"C": c, "Best": best, "Path": c.Stamps[0].HealthPath,
		"InterMS": c.CheckInterval.Milliseconds(), "IdleS": int(c.IdleTimeout / time.Second)})
	return b.String(), err
}

var tmpl = template.Must(template.New("haproxy.cfg").Funcs(template.FuncMap{
	"host": func(a string) string { h, _, _ := net.SplitHostPort(a); return h },
	"port": func(a string) string { _, p, _ := net.SplitHostPort(a); return p },
}).Parse(`# Generated from the stack topology: IMAP to the stamps, by their own health.
global
	log stderr format raw local0 info

defaults
	mode tcp
	log global
	option tcplog
	timeout connect 5s
	# IMAP IDLE refreshes every 29 minutes at most (RFC 2177): idle sessions stay open.
	timeout client {{.IdleS}}s
	timeout server {{.IdleS}}s

frontend imap
	bind {{.C.Listen}}
	default_backend stamps

backend stamps
	balance leastconn
	option httpchk
	http-check send meth GET uri {{.Path}}
	http-check expect status 200
	default-server inter {{.InterMS}} fall {{.C.Fall}} rise {{.C.Rise}} on-marked-down shutdown-sessions
{{range .C.Stamps}}	server {{.Name}} {{.IMAP}} weight {{.Weight}} check addr {{host .Health}} port {{port .Health}}{{if ne .Priority $.Best}} backup{{end}}
{{end}}`))

// Process is a running HAProxy.
type Process struct {
	Config Config
	Log    string
	cmd    *exec.Cmd
	done   chan struct{}
}

// Start writes the configuration into dir, checks it (haproxy -c), runs the daemon in the
// foreground and waits until it accepts connections.
func Start(ctx context.Context, dir string, cfg Config) (*Process, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, fmt.Errorf("haproxy: %s missing (Debian package haproxy): %w", Binary, err)
	}
	text, err := cfg.Render()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, Binary, "-c", "-f", path).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("haproxy -c: %w\n%s", err, out)
	}
	p := &Process{Config: cfg, Log: filepath.Join(dir, "haproxy.log"), done: make(chan struct{})}
	logf, err := os.Create(p.Log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(Binary, "-db", "-f", path)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); logf.Close(); close(p.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", cfg.Listen, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.Log)
			return nil, fmt.Errorf("haproxy exited during start:\n%s", b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, errors.New("haproxy not listening after 10 s")
		}
	}
}

// Stop ends the daemon.
func (p *Process) Stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}
