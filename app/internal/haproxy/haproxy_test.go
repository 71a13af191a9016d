package haproxy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeStamp greets every IMAP connection with its name and serves /health/stamp with status.
type fakeStamp struct {
	imap   net.Listener
	health *httptest.Server
	status atomic.Int32
}

func newFakeStamp(t *testing.T, name string) *fakeStamp {
	t.Helper()
	s := &fakeStamp{}
	s.status.Store(200)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.imap = l
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("* OK " + name + "\r\n"))
			go func() { time.Sleep(5 * time.Second); c.Close() }()
		}
	}()
	s.health = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/stamp" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(s.status.Load()))
	}))
	t.Cleanup(s.health.Close)
	return s
}

func greeting(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(3*time.Second)))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return ""
	}
	return strings.TrimSpace(line)
}

// The real HAProxy sends IMAP to the best-priority stamp while its /health/stamp answers 200,
// moves new connections to the backup when it answers 503 (drained), and back when it recovers.
func TestIMAPFollowsStampHealth(t *testing.T) {
	t.Parallel()
	a, b := newFakeStamp(t, "stamp-a"), newFakeStamp(t, "stamp-b")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	listen := l.Addr().String()
	l.Close()
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	stats := sl.Addr().String()
	sl.Close()
	cfg := Config{Listen: listen, StatsListen: stats, CheckInterval: 200 * time.Millisecond, Fall: 1, Rise: 1, Stamps: []Stamp{
		{Name: "a", IMAP: a.imap.Addr().String(), Health: strings.TrimPrefix(a.health.URL, "http://"), Priority: 1},
		{Name: "b", IMAP: b.imap.Addr().String(), Health: strings.TrimPrefix(b.health.URL, "http://"), Priority: 2},
	}}
	p, err := Start(context.Background(), t.TempDir(), cfg)
	require.NoError(t, err)
	t.Cleanup(p.Stop)

	require.Eventually(t, func() bool { return greeting(t, listen) == "* OK stamp-a" }, 5*time.Second, 100*time.Millisecond)
	a.status.Store(503)
	require.Eventually(t, func() bool { return greeting(t, listen) == "* OK stamp-b" }, 5*time.Second, 100*time.Millisecond,
		"a drained stamp takes no new IMAP connections")
	states, err := p.ServerStates(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "DOWN", states["a"], "%v", states)
	assert.Equal(t, "UP", states["b"], "%v", states)
	a.status.Store(200)
	require.Eventually(t, func() bool { return greeting(t, listen) == "* OK stamp-a" }, 5*time.Second, 100*time.Millisecond)
}

func TestRenderRejectsBadInput(t *testing.T) {
	_, err := Config{Listen: "x"}.Render()
	assert.ErrorContains(t, err, "listen")
	_, err = Config{Listen: "127.0.0.1:1", Stamps: []Stamp{{Name: "A B", IMAP: "1.2.3.4:143", Health: "1.2.3.4:80"}}}.Render()
	assert.ErrorContains(t, err, "stamp name")
}

// A stamp's own balancer in the local system: HTTP to the replicas by their readiness. A
// replica whose readiness answers 503 (shutting down) takes no new requests; when it is ready
// again it does.
func TestHTTPFollowsReplicaReadiness(t *testing.T) {
	t.Parallel()
	type replica struct {
		srv   *httptest.Server
		ready atomic.Int32
	}
	newReplica := func(name string) *replica {
		r := &replica{}
		r.ready.Store(200)
		r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/health/ready" {
				w.WriteHeader(int(r.ready.Load()))
				return
			}
			_, _ = w.Write([]byte(name))
		}))
		t.Cleanup(r.srv.Close)
		return r
	}
	a, b := newReplica("a"), newReplica("b")
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		return l.Addr().String()
	}
	httpAddr := free()
	host := func(r *replica) string { return strings.TrimPrefix(r.srv.URL, "http://") }
	cfg := Config{HTTPListen: httpAddr, HealthPath: "/health/ready", CheckInterval: 200 * time.Millisecond, Fall: 1, Rise: 1,
		Stamps: []Stamp{{Name: "a", HTTP: host(a), Health: host(a)}, {Name: "b", HTTP: host(b), Health: host(b)}}}
	p, err := Start(context.Background(), t.TempDir(), cfg)
	require.NoError(t, err)
	t.Cleanup(p.Stop)
	served := func() map[string]int {
		out := map[string]int{}
		for range 10 {
			res, err := http.Get("http://" + httpAddr + "/x")
			if err != nil {
				out["error"]++
				continue
			}
			body := make([]byte, 8)
			n, _ := res.Body.Read(body)
			res.Body.Close()
			out[string(body[:n])]++
		}
		return out
	}
	require.Eventually(t, func() bool { m := served(); return m["a"] > 0 && m["b"] > 0 }, 5*time.Second, 100*time.Millisecond)
	a.ready.Store(503)
	require.Eventually(t, func() bool { return served()["b"] == 10 }, 5*time.Second, 100*time.Millisecond,
		"a replica that is not ready takes no new requests")
	a.ready.Store(200)
	require.Eventually(t, func() bool { return served()["a"] > 0 }, 5*time.Second, 100*time.Millisecond)
}
