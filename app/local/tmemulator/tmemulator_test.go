package tmemulator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// stamp is a test HTTP server whose /health/stamp answers with a settable status.
type stamp struct {
	srv    *httptest.Server
	health atomic.Int32
	probes atomic.Int32
	hang   atomic.Bool
}

func newStamp(t *testing.T, name string) *stamp {
	t.Helper()
	s := &stamp{}
	s.health.Store(200)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health/stamp" {
			s.probes.Add(1)
			if s.hang.Load() {
				select {
				case <-r.Context().Done():
				case <-time.After(2 * time.Second):
				}
			}
			w.WriteHeader(int(s.health.Load()))
			return
		}
		w.Header().Set("X-Stamp", name)
		_, _ = w.Write([]byte(name))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stamp) url(t *testing.T) *url.URL {
	u, err := url.Parse(s.srv.URL)
	require.NoError(t, err)
	return u
}

func served(t *testing.T, h http.Handler, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for range n {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/x", nil))
		out[rec.Header().Get("X-Traffic-Manager-Endpoint")+"/"+http.StatusText(rec.Code)]++
	}
	return out
}

func TestToleratedFailuresThenFailoverAndBack(t *testing.T) {
	a, b := newStamp(t, "a"), newStamp(t, "b")
	m, err := New(Config{Interval: time.Second, Timeout: 200 * time.Millisecond, ToleratedFailures: 2},
		[]Endpoint{{Name: "a", Target: a.url(t), Weight: 1, Enabled: true}, {Name: "b", Target: b.url(t), Weight: 1, Enabled: true}})
	require.NoError(t, err)
	ctx := context.Background()
	m.ProbeAll(ctx)
	got := served(t, m, 200)
	assert.Greater(t, got["a/OK"], 20, "weights 1:1 spread traffic: %v", got)
	assert.Greater(t, got["b/OK"], 20, "weights 1:1 spread traffic: %v", got)

	a.health.Store(503)
	for i := range 2 { // tolerated: still routed
		m.ProbeAll(ctx)
		assert.Equal(t, Online, m.Statuses()[0].Status, "after %d failures", i+1)
	}
	m.ProbeAll(ctx) // third failure exceeds the tolerated two
	assert.Equal(t, Degraded, m.Statuses()[0].Status)
	assert.Equal(t, 503, m.Statuses()[0].LastCode)
	got = served(t, m, 100)
	assert.Equal(t, map[string]int{"b/OK": 100}, got)

	a.health.Store(200)
	m.ProbeAll(ctx) // one success brings it back
	assert.Equal(t, Online, m.Statuses()[0].Status)
	assert.Greater(t, served(t, m, 200)["a/OK"], 20)
}

func TestTimeoutCountsAsFailure(t *testing.T) {
	a := newStamp(t, "a")
	a.hang.Store(true)
	m, err := New(Config{Interval: time.Second, Timeout: 100 * time.Millisecond, ToleratedFailures: 0},
		[]Endpoint{{Name: "a", Target: a.url(t), Enabled: true}})
	require.NoError(t, err)
	m.ProbeAll(context.Background())
	st := m.Statuses()[0]
	assert.Equal(t, Degraded, st.Status)
	assert.Contains(t, st.LastErr, "deadline exceeded")
}

func TestAllDegradedAnswersAllAndDeadTargetIs502(t *testing.T) {
	a, b := newStamp(t, "a"), newStamp(t, "b")
	a.health.Store(500)
	b.health.Store(500)
	m, err := New(Config{Interval: time.Second, Timeout: 200 * time.Millisecond},
		[]Endpoint{{Name: "a", Target: a.url(t), Enabled: true}, {Name: "b", Target: b.url(t), Enabled: true}})
	require.NoError(t, err)
	m.ProbeAll(context.Background())
	got := served(t, m, 100)
	assert.Positive(t, got["a/OK"], "all degraded: traffic still flows to all: %v", got)
	assert.Positive(t, got["b/OK"], "all degraded: traffic still flows to all: %v", got)

	b.srv.Close()
	got = served(t, m, 50)
	assert.Positive(t, got["b/Bad Gateway"], "a dead target surfaces as 502: %v", got)
}

func TestRoutingMethods(t *testing.T) {
	a, b, c := newStamp(t, "a"), newStamp(t, "b"), newStamp(t, "c")
	eps := []Endpoint{
		{Name: "a", Region: "r1", Target: a.url(t), Weight: 1, Priority: 2, Enabled: true},
		{Name: "b", Region: "r2", Target: b.url(t), Weight: 9, Priority: 1, Enabled: true},
		{Name: "c", Region: "r2", Target: c.url(t), Weight: 1, Priority: 3, Enabled: false},
	}
	cases := []struct {
		method, region string
		want           func(map[string]int) bool
	}{
		{"Priority", "", func(g map[string]int) bool { return g["b/OK"] == 300 }},
		{"Weighted", "", func(g map[string]int) bool { return g["b/OK"] > g["a/OK"]*3 && g["a/OK"] > 0 && g["c/OK"] == 0 }},
		{"Performance", "r1", func(g map[string]int) bool { return g["a/OK"] == 300 }},
	}
	for _, tc := range cases {
		t.Run(tc.method, func(t *testing.T) {
			m, err := New(Config{RoutingMethod: tc.method, ClientRegion: tc.region, Interval: time.Second, Timeout: 200 * time.Millisecond}, eps)
			require.NoError(t, err)
			m.ProbeAll(context.Background())
			g := served(t, m, 300)
			assert.True(t, tc.want(g), "distribution %v", g)
		})
	}
}

func TestDisabledEndpointIsNotProbedOrRouted(t *testing.T) {
	a, b := newStamp(t, "a"), newStamp(t, "b")
	m, err := New(Config{Interval: time.Second, Timeout: 200 * time.Millisecond},
		[]Endpoint{{Name: "a", Target: a.url(t), Enabled: true}, {Name: "b", Target: b.url(t), Enabled: true}})
	require.NoError(t, err)
	require.NoError(t, m.SetEnabled("b", false))
	m.ProbeAll(context.Background())
	assert.Zero(t, b.probes.Load())
	assert.Equal(t, map[string]int{"a/OK": 50}, served(t, m, 50))
	require.NoError(t, m.SetEnabled("a", false))
	assert.Equal(t, map[string]int{"/Service Unavailable": 5}, served(t, m, 5))
	assert.Error(t, m.SetEnabled("zz", true))
}

func TestRunProbesOnInterval(t *testing.T) {
	a := newStamp(t, "a")
	m, err := New(Config{Interval: 50 * time.Millisecond, Timeout: 20 * time.Millisecond},
		[]Endpoint{{Name: "a", Target: a.url(t), Enabled: true}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	require.Eventually(t, func() bool { return a.probes.Load() >= 3 }, 5*time.Second, 10*time.Millisecond)
	cancel()
	<-done
	assert.Equal(t, Online, m.Statuses()[0].Status)
}

func TestInvalidConfig(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	for name, tc := range map[string]struct {
		cfg Config
		eps []Endpoint
	}{
		"method":    {Config{RoutingMethod: "Geographic", Interval: time.Second, Timeout: time.Millisecond}, nil},
		"timeout":   {Config{Interval: time.Second, Timeout: 2 * time.Second}, nil},
		"tolerated": {Config{Interval: time.Second, Timeout: time.Millisecond, ToleratedFailures: -1}, nil},
		"duplicate": {Config{Interval: time.Second, Timeout: time.Millisecond}, []Endpoint{{Name: "a", Target: u}, {Name: "a", Target: u}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.cfg, tc.eps)
			assert.Error(t, err)
		})
	}
}

func TestFromTopologyDevStack(t *testing.T) {
	cfg, err := config.LoadStackFile("../../../Pulumi.dev.yaml")
	require.NoError(t, err)
	topo, err := topology.Build(cfg)
	require.NoError(t, err)
	base := map[string]*url.URL{}
	for i, s := range topo.Stamps {
		base[s.ID], _ = url.Parse("http://127.0.0.1:" + string(rune('1'+i)))
	}
	c, eps := FromTopology(topo, base)
	assert.Equal(t, "Weighted", c.RoutingMethod)
	assert.Equal(t, 10*time.Second, c.Interval)
	assert.Equal(t, 3, c.ToleratedFailures)
	require.Len(t, eps, 2)
	assert.Equal(t, topo.Stamps[0].ID, eps[0].Name)
	assert.True(t, eps[0].Enabled)
}
