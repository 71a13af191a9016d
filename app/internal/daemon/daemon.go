// Package daemon runs a reference daemon (HAProxy, Kamailio) for local deployments and tests:
// in the foreground, in its own process group so that its forked workers stop with it, with
// its stdout and stderr in a log file.
package daemon

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Daemon is a started daemon.
type Daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	err  error
}

// Start runs bin with args, writing its output to the file log (created or truncated).
func Start(log, bin string, args ...string) (*Daemon, error) {
	logf, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		err := d.cmd.Wait()
		logf.Close()
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
		close(d.done)
	}()
	return d, nil
}

// Done is closed once the daemon has exited.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Err is how the daemon exited; nil while it runs or after a clean exit.
func (d *Daemon) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Stop ends the daemon and its workers: SIGTERM to the process group, SIGKILL after 5 s.
func (d *Daemon) Stop() {
	if d == nil {
		return
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}
