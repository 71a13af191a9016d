// Package haproxy generates the reference IMAP balancer of the operator edge, a HAProxy
// configuration from the stack topology, and runs the daemon for local deployments and tests.
// Every stamp is a TCP server whose health is its own GET contract.StampHealthPath (200 in rotation, 503
// drained or failing), so a drained or failing stamp takes no new IMAP connections; stamps of
// a lower priority are backups used only when every stamp of the best priority is down.
//
// The same generator plays a stamp's own load balancer in the local system: its servers are
// then the stamp's voicemail replicas, checked on their readiness path as Kubernetes does, and
// an HTTP frontend (Config.HTTPListen) stands in for the stamp's HTTP ingress.
package haproxy

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/daemon"
	"github.com/voicemail-platform/voicemail/contract"
)

// Binary is HAProxy; tests and the local runner fail (never skip) without it.
const Binary = "/usr/sbin/haproxy"

// Stamp is one backend server: a stamp at the edge, a replica in a stamp's own balancer.
type Stamp struct {
	Name string // [a-z0-9-]
	IMAP string // host:port of the stamp's IMAP
	// HTTP is host:port of the server's HTTP API; required when Config.HTTPListen is set.
	HTTP string
	// Health is host:port serving the health path (Config.HealthPath).
	Health   string
	Priority int // lowest first; higher ones are backups
	Weight   int // 1-256, default 1
}

// Config is one HAProxy instance.
type Config struct {
	Listen string // host:port for IMAP clients
	// HTTPListen, when set, adds an HTTP frontend balancing over the servers' HTTP addresses
	// by the same health.
	HTTPListen string
	// HealthPath is what each server's health check GETs; 200 keeps it in rotation. Default
	// contract.StampHealthPath (a whole stamp's health, for the edge).
	HealthPath string
	Stamps     []Stamp
	// CheckInterval is how often each stamp's health is fetched; Fall and Rise how many
	// results in a row change its state. Defaults 2 s, 2, 2.
	CheckInterval time.Duration
	Fall, Rise    int
	// CheckTimeout bounds one health check (default 2 s); a loaded server that answers late
	// counts as one failure, not an immediate removal.
	CheckTimeout time.Duration
	// StatsListen, when set (host:port), serves HAProxy's statistics there (CSV at
	// /stats;csv), from which Process.ServerStates reads each server's state.
	StatsListen string
	// IdleTimeout closes a silent connection; above IMAP IDLE's 29-minute refresh (RFC 2177).
	// Default 31 min.
	IdleTimeout time.Duration
	// TLS, when set, says the servers speak TLS (HTTPS API and health, as stamps with the edge
	// certificate do).
	// IMAPSendProxy starts every IMAP connection to a stamp with a PROXY protocol v2 header
	// naming the client (the stamps list this HAProxy in contract.EnvIMAPProxyFrom), so their
	// per-source penalties and limits see clients rather than HAProxy.
	IMAPSendProxy bool
	// Source is the address HAProxy connects to the stamps from (empty: the kernel's choice),
	// so the stamps can tell its connections, which carry a PROXY header, from others.
	Source string
	TLS    *TLS
}

// TLS is the certificate of an HTTPS frontend and the trust for the servers behind it: the
// HTTP frontend ends TLS with CertKeyFile and re-encrypts to each server, verifying it against
// CAFile for ServerName, so requests are still balanced one by one; IMAP passes through (its
// STARTTLS is the server's). Health checks run over TLS.
type TLS struct {
	CertKeyFile string // PEM: certificate chain and key in one file (HAProxy's crt)
	CAFile      string // PEM roots the servers' certificates must chain to
	ServerName  string // name verified in the servers' certificates
}

// Render returns haproxy.cfg.
func (c Config) Render() (string, error) {
	if c.Listen == "" && c.HTTPListen == "" {
		return "", errors.New("haproxy: no listen address (Listen for IMAP, HTTPListen for HTTP)")
	}
	if _, _, err := net.SplitHostPort(c.Listen); c.Listen != "" && err != nil {
		return "", fmt.Errorf("haproxy: listen %q: %w", c.Listen, err)
	}
	if len(c.Stamps) == 0 {
		return "", errors.New("haproxy: no stamps")
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = 2 * time.Second
	}
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = 2 * time.Second
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
	if c.HealthPath == "" {
		c.HealthPath = contract.StampHealthPath
	}
	if !strings.HasPrefix(c.HealthPath, "/") || strings.ContainsAny(c.HealthPath, " \t\r\n") {
		return "", fmt.Errorf("haproxy: health path %q", c.HealthPath)
	}
	if c.Source != "" && net.ParseIP(c.Source) == nil {
		return "", fmt.Errorf("haproxy: source %q is not an IP address", c.Source)
	}
	if c.StatsListen != "" {
		if _, _, err := net.SplitHostPort(c.StatsListen); err != nil {
			return "", fmt.Errorf("haproxy: stats listen %q: %w", c.StatsListen, err)
		}
	}
	if c.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(c.HTTPListen); err != nil {
			return "", fmt.Errorf("haproxy: http listen %q: %w", c.HTTPListen, err)
		}
	}
	best := c.Stamps[0].Priority
	for i, s := range c.Stamps {
		if s.Name == "" || strings.Trim(s.Name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return "", fmt.Errorf("haproxy: stamp name %q", s.Name)
		}
		addrs := []string{s.Health}
		if c.Listen != "" {
			addrs = append(addrs, s.IMAP)
		}
		if c.HTTPListen != "" {
			addrs = append(addrs, s.HTTP)
		}
		for _, a := range addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return "", fmt.Errorf("haproxy: stamp %s: %q: %w", s.Name, a, err)
			}
		}
		if s.Weight <= 0 {
			c.Stamps[i].Weight = 1
		}
		best = min(best, s.Priority)
	}
	var b bytes.Buffer
	err := tmpl.Execute(&b, map[string]any{"C": c, "Best": best,
		"InterMS": c.CheckInterval.Milliseconds(), "CheckMS": c.CheckTimeout.Milliseconds(), "IdleS": int(c.IdleTimeout / time.Second)})
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
	timeout check {{.CheckMS}}
	# IMAP IDLE refreshes every 29 minutes at most (RFC 2177): idle sessions stay open.
	timeout client {{.IdleS}}s
	timeout server {{.IdleS}}s
	# A server that refuses the connection (it died between two checks): try another.
	retries 3
	option redispatch
{{if .C.Listen}}
frontend imap
	bind {{.C.Listen}}
	default_backend stamps

backend stamps
	balance leastconn
	option httpchk
	http-check send meth GET uri {{.C.HealthPath}}
	http-check expect status 200
	default-server inter {{.InterMS}} fall {{.C.Fall}} rise {{.C.Rise}}
{{range .C.Stamps}}	server {{.Name}} {{.IMAP}} weight {{.Weight}} check addr {{host .Health}} port {{port .Health}}{{with $.C.TLS}} check-ssl verify required ca-file {{.CAFile}} check-sni {{.ServerName}} verifyhost {{.ServerName}}{{end}}{{if ne .Priority $.Best}} backup{{end}}{{if $.C.IMAPSendProxy}} send-proxy-v2{{end}}{{if $.C.Source}} source {{$.C.Source}}{{end}}
{{end}}{{end}}{{if .C.HTTPListen}}
frontend http
	mode http
	option httplog
	timeout client 5m
	bind {{.C.HTTPListen}}{{with .C.TLS}} ssl crt {{.CertKeyFile}} ssl-min-ver TLSv1.2{{end}}
	default_backend http

# Requests in progress on a server that leaves rotation (draining) run to their end.
backend http
	mode http
	balance roundrobin
	timeout server 5m
	option httpchk
	http-check send meth GET uri {{.C.HealthPath}}
	http-check expect status 200
	default-server inter {{.InterMS}} fall {{.C.Fall}} rise {{.C.Rise}}
{{range .C.Stamps}}	server {{.Name}} {{.HTTP}} weight {{.Weight}} check addr {{host .Health}} port {{port .Health}}{{with $.C.TLS}} ssl check-ssl verify required ca-file {{.CAFile}} sni str({{.ServerName}}) check-sni {{.ServerName}} verifyhost {{.ServerName}}{{end}}{{if ne .Priority $.Best}} backup{{end}}
{{end}}{{end}}{{if .C.StatsListen}}
frontend stats
	mode http
	timeout client 10s
	bind {{.C.StatsListen}}
	stats enable
	stats uri /stats
{{end}}`))

// Process is a running HAProxy.
type Process struct {
	Config Config
	Log    string
	d      *daemon.Daemon
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
	p := &Process{Config: cfg, Log: filepath.Join(dir, "haproxy.log")}
	if p.d, err = daemon.Start(p.Log, Binary, "-db", "-f", path); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if (cfg.Listen == "" || listening(cfg.Listen)) && (cfg.HTTPListen == "" || listening(cfg.HTTPListen)) {
			return p, nil
		}
		select {
		case <-p.d.Done():
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

// ServerStates returns the state of each server of the IMAP backend ("UP", "DOWN", "MAINT",
// with "UP 1/2" style transitions as HAProxy reports them), read from the statistics
// (Config.StatsListen must be set).
func (p *Process) ServerStates(ctx context.Context) (map[string]string, error) {
	if p.Config.StatsListen == "" {
		return nil, errors.New("haproxy: no StatsListen configured")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Config.StatsListen+"/stats;csv", nil)
	if err != nil {
		return nil, err
	}
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	rows, err := csv.NewReader(res.Body).ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("haproxy stats: %v", err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimPrefix(strings.TrimSpace(h), "# ")] = i
	}
	px, sv, st := col["pxname"], col["svname"], col["status"]
	out := map[string]string{}
	for _, r := range rows[1:] {
		if len(r) > st && r[px] == "stamps" && r[sv] != "FRONTEND" && r[sv] != "BACKEND" {
			out[r[sv]] = r[st]
		}
	}
	return out, nil
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Stop ends the daemon.
func (p *Process) Stop() {
	if p == nil {
		return
	}
	p.d.Stop()
}
