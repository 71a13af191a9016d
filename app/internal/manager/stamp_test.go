package manager

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	stampHealthPath     = "/health/stamp"
	stampStateComponent = "state"
)

// fakeStamp stands in for the voicemail binary until it lands.
type fakeStamp struct {
	id     string
	srv    *httptest.Server
	broken atomic.Bool
}

func newFakeStamp(t *testing.T, conn, container, id, blob string) *fakeStamp {
	c, err := NewContainerFromConnectionString(conn, container, "unused")
	require.NoError(t, err)
	f := &fakeStamp{id: id}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, err := c.Exists(r.Context(), blob)
		comps := map[string]map[string]any{
			"state":    {"healthy": err == nil && ok},
			"metadata": {"healthy": !f.broken.Load()},
		}
		code := http.StatusOK
		for _, v := range comps {
			if !v["healthy"].(bool) {
				code = http.StatusServiceUnavailable
			}
		}
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"components": comps})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeStamp) ID() string         { return f.id }
func (f *fakeStamp) URL() string        { return f.srv.URL }
func (f *fakeStamp) Break(t *testing.T) { f.broken.Store(true) }
func (f *fakeStamp) Heal(t *testing.T)  { f.broken.Store(false) }

func waitHealthy(t *testing.T, s testStamp) {
	t.Helper()
	p := HTTPProber{Path: stampHealthPath, StateComponent: stampStateComponent}
	deadline := time.Now().Add(20 * time.Second)
	for {
		o := p.Probe(context.Background(), Stamp{ID: s.ID(), URL: s.URL()})
		if o.Status == http.StatusOK {
			return
		}
		require.True(t, time.Now().Before(deadline), "stamp %s never became healthy: %+v", s.ID(), o)
		time.Sleep(100 * time.Millisecond)
	}
}

func TestManagerAgainstStamps(t *testing.T) {
	conn := startAzurite(t)
	runScenarios(t, conn, func(t *testing.T, container, id, blob string) testStamp {
		return newFakeStamp(t, conn, container, id, blob)
	})
}
