package runner

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Replica is one voicemail process of a stamp (a pod): its own loopback address, advertised in
// SIP Contact and SDP, and its own listeners.
type Replica struct {
	Name    string // <stamp>-<n>
	IP      string
	HTTP    string // host:port of the HTTPS API (URL is its base URL)
	Metrics string // host:port of the plain-HTTP /metrics listener
	SIP     string
	IMAP    string
	DataDir string
	LogFile string

	bin    string
	env    []string
	client *http.Client // trusts the cluster's certificate

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// URL is the replica's API base URL.
func (r *Replica) URL() string { return "https://" + r.HTTP }

// Start launches the process and waits until it answers /health/liveness.
func (r *Replica) Start(ctx context.Context) error {
	done, err := r.launch()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := r.client.Get(r.URL() + topology.LivenessPath)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("replica %s exited during start (%v); log: %s", r.Name, r.exitErr(), tailFile(r.LogFile, 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %s not live after 30 s; log: %s", r.Name, tailFile(r.LogFile, 2000))
		}
	}
}

// launch starts the process and returns a channel closed when it exits.
func (r *Replica) launch() (chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return nil, fmt.Errorf("replica %s: already running", r.Name)
	}
	logf, err := os.OpenFile(r.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(r.bin)
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("replica %s: %w", r.Name, err)
	}
	done := make(chan struct{})
	r.cmd, r.done = cmd, done
	go func() {
		err := cmd.Wait()
		logf.Close()
		r.mu.Lock()
		r.err = err
		if r.cmd == cmd {
			r.cmd = nil
		}
		r.mu.Unlock()
		close(done)
	}()
	return done, nil
}

func (r *Replica) exitErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Signal sends sig to the running process.
func (r *Replica) Signal(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return fmt.Errorf("replica %s is not running", r.Name)
	}
	return r.cmd.Process.Signal(sig)
}

// Pid is the running process id, 0 when stopped.
func (r *Replica) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Wait waits up to d for the process to exit and returns its exit error (nil for exit 0).
func (r *Replica) Wait(d time.Duration) (exited bool, err error) {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done == nil {
		return true, nil
	}
	select {
	case <-done:
		return true, r.exitErr()
	case <-time.After(d):
		return false, nil
	}
}

// Stop sends SIGTERM and, after grace, SIGKILL.
func (r *Replica) Stop(grace time.Duration) {
	if r.Signal(syscall.SIGTERM) != nil {
		return
	}
	if ok, _ := r.Wait(grace); !ok {
		_ = r.Signal(syscall.SIGKILL)
		_, _ = r.Wait(5 * time.Second)
	}
}

// Log returns the replica's log so far.
func (r *Replica) Log() string {
	b, _ := os.ReadFile(r.LogFile)
	return string(b)
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
