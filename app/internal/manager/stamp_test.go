package manager

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/azurite"
	"github.com/voicemail-platform/voicemail/app/internal/health"
)

// The stamp health path and the state component the real service reports.
const (
	stampHealthPath     = "/health/stamp"
	stampStateComponent = health.State
)

// realStamp is the voicemail binary on the Azure backend, all on the shared Azurite: blobs and
// queue directly (so the manager and the stamp see the same state blob), metadata in a table
// of its own reached through a loopback forwarder that Break shuts (the port refuses
// connections and open ones are cut, as when the table service stops) and Heal reopens on the
// same port. That is a real dependency outage without booting a table service per stamp.
type realStamp struct {
	id    string
	url   string
	table *outage
	cmd   *exec.Cmd
}

func newRealStamp(t *testing.T, container, id, blob string) *realStamp {
	t.Helper()
	table := newOutage(t, fmt.Sprintf("127.0.0.1:%d", shared.Port(azurite.Table)))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	conn := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;QueueEndpoint=%s;TableEndpoint=http://%s/%s;",
		azurite.Account, azurite.Key, shared.Endpoint(azurite.Blob), shared.Endpoint(azurite.Queue), table.addr, azurite.Account)
	cmd := exec.Command(voicemailBin)
	cmd.Env = append(os.Environ(),
		"VOICEMAIL_HTTP_ADDR="+addr,
		"VOICEMAIL_STORAGE_CONNECTION_STRING="+conn,
		"VOICEMAIL_OPERATOR_TOKEN=stamp-operator-token-0123456789",
		"VOICEMAIL_REGION=westeurope",
		"VOICEMAIL_STAMP="+id,
		"VOICEMAIL_STATE_CONTAINER="+container,
		"VOICEMAIL_STATE_BLOB="+blob,
		"VOICEMAIL_QUEUE=deposits-"+id,
		"VOICEMAIL_TABLE=meta"+strings.ReplaceAll(id, "-", ""), // Azure table names are alphanumeric
		"VOICEMAIL_HEALTH_CACHE_TTL=1ms",                       // every probe is a fresh round (0 means the 10 s default)
		"VOICEMAIL_HEALTH_TIMEOUT=1s",
		"VOICEMAIL_DATA_DIR="+t.TempDir(),
		"VOICEMAIL_LOG_LEVEL=warn",
	)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	s := &realStamp{id: id, url: "http://" + addr, table: table, cmd: cmd}
	waitHealthy(t, s)
	return s
}

func (s *realStamp) ID() string  { return s.id }
func (s *realStamp) URL() string { return s.url }

func (s *realStamp) Break(t *testing.T) {
	t.Helper()
	s.table.down()
}

func (s *realStamp) Heal(t *testing.T) {
	t.Helper()
	require.NoError(t, s.table.up())
}

// outage forwards a loopback port to a service and can take that port down and up again.
type outage struct {
	addr, upstream string
	mu             sync.Mutex
	ln             net.Listener
	conns          map[net.Conn]bool
}

func newOutage(t *testing.T, upstream string) *outage {
	t.Helper()
	o := &outage{upstream: upstream, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o.addr = ln.Addr().String()
	o.serve(ln)
	t.Cleanup(o.down)
	return o
}

func (o *outage) serve(ln net.Listener) {
	o.mu.Lock()
	o.ln = ln
	o.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go o.forward(c)
		}
	}()
}

func (o *outage) forward(c net.Conn) {
	up, err := net.Dial("tcp", o.upstream)
	if err != nil {
		c.Close()
		return
	}
	o.mu.Lock()
	if o.ln == nil { // went down meanwhile
		o.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	o.conns[c], o.conns[up] = true, true
	o.mu.Unlock()
	done := make(chan struct{})
	go func() { _, _ = io.Copy(up, c); up.Close(); close(done) }()
	_, _ = io.Copy(c, up)
	c.Close()
	<-done
	o.mu.Lock()
	delete(o.conns, c)
	delete(o.conns, up)
	o.mu.Unlock()
}

// down closes the port and every open connection.
func (o *outage) down() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ln != nil {
		o.ln.Close()
		o.ln = nil
	}
	for c := range o.conns {
		c.Close()
	}
}

// up listens on the same port again.
func (o *outage) up() error {
	var err error
	for range 50 { // the closed socket may linger briefly
		var ln net.Listener
		if ln, err = net.Listen("tcp", o.addr); err == nil {
			o.serve(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// waitHealthy waits until the stamp answers 200 (start-up only; the scenarios never wait).
func waitHealthy(t *testing.T, s testStamp) {
	t.Helper()
	p := HTTPProber{Path: stampHealthPath, StateComponent: stampStateComponent}
	deadline := time.Now().Add(30 * time.Second)
	for {
		o := p.Probe(context.Background(), Stamp{ID: s.ID(), URL: s.URL()})
		if o.Status == http.StatusOK {
			return
		}
		require.True(t, time.Now().Before(deadline), "stamp %s never became healthy: %+v", s.ID(), o)
		time.Sleep(100 * time.Millisecond)
	}
}

func TestManagerAgainstRealStamps(t *testing.T) {
	conn := startAzurite(t)
	runScenarios(t, conn, func(t *testing.T, container, id, blob string) testStamp {
		// The stamp's state container must exist before it starts (the manager's rig creates
		// it too; creating twice is fine).
		newContainer(t, conn, container)
		return newRealStamp(t, container, id, blob)
	})
}
