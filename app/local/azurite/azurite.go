// Package azurite starts Azurite's Blob, Queue and Table services as three separate processes
// (azurite-blob, azurite-queue, azurite-table) on free loopback ports, so tests and the local
// runner can stop and restart one service to simulate its outage; Options.Combined starts them
// in one azurite process instead, for users that never stop a service alone. Data is persisted
// on disk in Dir by default, so a restarted service still has it.
package azurite

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Account and Key are Azurite's well-known development account.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Service names one Azurite service.
type Service string

const (
	Blob  Service = "blob"
	Queue Service = "queue"
	Table Service = "table"
)

// startTimeout is generous: on a loaded 2-core machine node needs tens of seconds to boot.
const startTimeout = 90 * time.Second

// Options configure Start.
type Options struct {
	// Dir is the workspace; empty means a new temporary directory removed by Close.
	Dir string
	// InMemory keeps data in memory only (a restarted service starts empty).
	InMemory bool
	// Services to start; empty means all three.
	Services []Service
	// Combined runs the services in one azurite process instead of one each: node's start-up,
	// most of the cost, is paid once. Stop and Restart then refuse (no service stops alone).
	Combined bool
	// Log receives the processes' output (default discarded).
	Log *os.File
}

// Azurite is a running set of Azurite services.
type Azurite struct {
	opt     Options
	tempDir bool
	mu      sync.Mutex
	ports   map[Service]int
	procs   map[Service]*exec.Cmd
	exited  map[Service]chan struct{}
}

// Start launches the services and waits until each accepts connections.
func Start(ctx context.Context, opt Options) (*Azurite, error) {
	a := &Azurite{opt: opt, ports: map[Service]int{}, procs: map[Service]*exec.Cmd{}, exited: map[Service]chan struct{}{}}
	if a.opt.Dir == "" {
		d, err := os.MkdirTemp("", "azurite-")
		if err != nil {
			return nil, fmt.Errorf("azurite: %w", err)
		}
		a.opt.Dir, a.tempDir = d, true
	}
	if len(a.opt.Services) == 0 {
		a.opt.Services = []Service{Blob, Queue, Table}
	}
	for _, s := range a.opt.Services {
		port, err := freePort()
		if err != nil {
			a.Close()
			return nil, err
		}
		a.ports[s] = port
	}
	// Start the services side by side: node takes seconds to boot on a busy machine.
	errs := make(chan error, len(a.opt.Services))
	procs := a.opt.Services
	if a.opt.Combined {
		procs = []Service{combined}
	}
	for _, s := range procs {
		go func() { errs <- a.start(ctx, s) }()
	}
	var err error
	for range procs {
		err = errors.Join(err, <-errs)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// StartT starts all services for a test and stops them at cleanup. It fails the test (never
// skips) when Azurite is missing or does not come up.
func StartT(t testing.TB, opt Options) *Azurite {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*startTimeout)
	defer cancel()
	a, err := Start(ctx, opt)
	if err != nil {
		t.Fatalf("azurite: %v (install with: npm install -g azurite@3.37.0)", err)
	}
	t.Cleanup(a.Close)
	return a
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("azurite: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// combined is the process key of Options.Combined: one azurite process for every service.
const combined Service = "combined"

func (a *Azurite) start(ctx context.Context, s Service) error {
	bin := "azurite-" + string(s)
	services := []Service{s}
	if s == combined {
		bin, services = "azurite", a.opt.Services
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return fmt.Errorf("azurite: %s not on PATH: %w", bin, err)
	}
	args := []string{"--skipApiVersionCheck", "--disableTelemetry", "--silent", "--loose"}
	for _, svc := range services {
		args = append(args, "--"+string(svc)+"Host", "127.0.0.1", "--"+string(svc)+"Port", fmt.Sprint(a.ports[svc]))
		// A short keep-alive lets a graceful stop finish quickly (azurite-queue has no flag; the
		// combined azurite has it for every service).
		if svc != Queue || s == combined {
			args = append(args, "--"+string(svc)+"KeepAliveTimeout", "1")
		}
	}
	if a.opt.InMemory {
		args = append(args, "--inMemoryPersistence") // Azurite refuses it together with --location
	} else {
		args = append(args, "--location", filepath.Join(a.opt.Dir, string(s)))
	}
	if err := os.MkdirAll(filepath.Join(a.opt.Dir, string(s)), 0o750); err != nil {
		return fmt.Errorf("azurite: %w", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = a.opt.Log, a.opt.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so Stop reaches node's children too
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("azurite: start %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	a.mu.Lock()
	a.procs[s], a.exited[s] = cmd, done
	a.mu.Unlock()
	deadline := time.Now().Add(startTimeout)
	for _, svc := range services {
		if err := waitListening(ctx, bin, a.ports[svc], done, deadline); err != nil {
			return err
		}
	}
	return nil
}

// waitListening polls until the process bin, which closes done when it exits, accepts
// connections on port.
func waitListening(ctx context.Context, bin string, port int, done <-chan struct{}, deadline time.Time) error {
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("azurite: %s exited before listening on %d", bin, port)
		case <-ctx.Done():
			return fmt.Errorf("azurite: %s not listening on %d: %w", bin, port, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("azurite: %s not listening on %d after %s", bin, port, startTimeout)
		}
	}
}

// Port returns a service's port.
func (a *Azurite) Port(s Service) int { return a.ports[s] }

// Endpoint returns a service's URL including the account path, e.g. http://127.0.0.1:P/devstoreaccount1.
func (a *Azurite) Endpoint(s Service) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", a.ports[s], Account)
}

// ConnectionString is the shared-key connection string for all started services.
func (a *Azurite) ConnectionString() string {
	cs := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;", Account, Key)
	for _, s := range a.opt.Services {
		name := map[Service]string{Blob: "BlobEndpoint", Queue: "QueueEndpoint", Table: "TableEndpoint"}[s]
		cs += fmt.Sprintf("%s=%s;", name, a.Endpoint(s))
	}
	return cs
}

// Stop terminates one service with SIGINT, on which Azurite flushes its data to disk (on SIGTERM
// the table service loses recent writes). If it has not exited within flushTimeout it is
// killed and Stop reports that writes it acknowledged may be lost: a stopped store stands for an
// outage, and in Azure an outage loses no acknowledged write, so a test must not count such a
// loss against the service.
func (a *Azurite) Stop(s Service) error {
	if a.opt.Combined {
		return fmt.Errorf("azurite: cannot stop %s alone: the services run combined (Options.Combined)", s)
	}
	return a.stop(s)
}

func (a *Azurite) stop(s Service) error {
	a.mu.Lock()
	cmd, done := a.procs[s], a.exited[s]
	delete(a.procs, s)
	a.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-done:
		return nil
	case <-time.After(flushTimeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("azurite: %s did not flush and exit within %s of SIGINT and was killed; writes it acknowledged may be lost", s, flushTimeout)
	}
}

// flushTimeout bounds a graceful stop. Azurite usually exits within a second; the bound is
// generous because a killed table service loses what it has not flushed, and a loaded CI
// machine slows the flush.
const flushTimeout = 30 * time.Second

// Restart starts a stopped service again on the same port with the same data directory.
func (a *Azurite) Restart(ctx context.Context, s Service) error {
	if a.opt.Combined {
		return fmt.Errorf("azurite: cannot restart %s alone: the services run combined (Options.Combined)", s)
	}
	a.mu.Lock()
	running := a.procs[s] != nil
	a.mu.Unlock()
	if running {
		return errors.New("azurite: " + string(s) + " is running")
	}
	// The old socket may linger briefly; retry until the port is free.
	var err error
	for range 50 {
		if err = a.start(ctx, s); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Close stops every service and removes a temporary workspace.
func (a *Azurite) Close() {
	for _, s := range a.opt.Services {
		_ = a.stop(s)
	}
	_ = a.stop(combined)
	if a.tempDir {
		_ = os.RemoveAll(a.opt.Dir)
	}
}
