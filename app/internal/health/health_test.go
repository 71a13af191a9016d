package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/health"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/embedded"
)

var errDown = errors.New("injected outage")

// probe wraps the embedded store, counting calls and failing the ones a test switches off.
type probe struct {
	store.Metadata
	store.Queue
	gets, updates, sends       atomic.Int64
	failGet, failUpdate, failQ atomic.Bool
	hangGet                    atomic.Bool
}

func (p *probe) Get(ctx context.Context, part, key string) (store.Row, error) {
	p.gets.Add(1)
	if p.hangGet.Load() {
		<-ctx.Done()
		return store.Row{}, ctx.Err()
	}
	if p.failGet.Load() {
		return store.Row{}, errDown
	}
	return p.Metadata.Get(ctx, part, key)
}

func (p *probe) Update(ctx context.Context, part, key string, fn func([]byte) ([]byte, error)) (store.Row, error) {
	p.updates.Add(1)
	if p.failUpdate.Load() {
		return store.Row{}, errDown
	}
	return p.Metadata.Update(ctx, part, key, fn)
}

func (p *probe) Send(ctx context.Context, text string) error {
	p.sends.Add(1)
	if p.failQ.Load() {
		return errDown
	}
	return p.Queue.Send(ctx, text)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	p     *probe
	b     *store.Backend
	clock *clock
	hs    *health.Service
	url   string
}

func setup(t testing.TB, opt health.Options) *fixture {
	raw, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = raw.Close() })
	p := &probe{Metadata: raw.Meta, Queue: raw.Queue}
	b := &store.Backend{Meta: p, Blobs: raw.Blobs, Queue: p, State: raw.State}
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	opt.Backend, opt.Stamp, opt.Region, opt.Now = b, "stamp-1", "local", c.now
	hs := health.New(opt)
	mux := http.NewServeMux()
	hs.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{p: p, b: b, clock: c, hs: hs, url: srv.URL}
}

func (f *fixture) stamp(t *testing.T) (int, health.Report) {
	t.Helper()
	resp, err := http.Get(f.url + "/health/stamp")
	require.NoError(t, err)
	defer resp.Body.Close()
	var rep health.Report
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rep))
	return resp.StatusCode, rep
}

func TestHealthyStamp(t *testing.T) {
	f := setup(t, health.Options{})
	code, rep := f.stamp(t)
	assert.Equal(t, 200, code)
	assert.Equal(t, "healthy", rep.Status)
	assert.Equal(t, "stamp-1", rep.Stamp)
	for _, c := range []string{health.MetadataRead, health.MetadataWrite, health.Queue, health.State, health.Model} {
		assert.True(t, rep.Components[c].Healthy, c)
	}
	// The write probe left its row and the queue probe a HEALTHCHECK=TRUE message.
	_, err := f.b.Meta.Get(context.Background(), "health", store.RowKey("probe:stamp-1", "local"))
	assert.NoError(t, err)
	msgs, err := f.b.Queue.Receive(context.Background(), 10, time.Second)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0].Text, "HEALTHCHECK=TRUE")

	req, _ := http.NewRequest(http.MethodHead, f.url+"/health/stamp", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, body)
	for _, path := range []string{"/health/liveness", "/health/ready"} {
		resp, err := http.Get(f.url + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode, path)
	}
	f.hs.SetReady(false)
	resp, err = http.Get(f.url + "/health/ready")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	code, rep = f.stamp(t)
	assert.Equal(t, 503, code, "a stamp shutting down drains itself")
	assert.Equal(t, []string{"shutting-down"}, rep.Unhealthy)
	resp, err = http.Post(f.url+"/health/stamp", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 405, resp.StatusCode)
}

func TestEachFailingComponentTurnsStamp503(t *testing.T) {
	for _, tc := range []struct {
		component string
		fail      func(*fixture)
	}{
		{health.MetadataRead, func(f *fixture) { f.p.failGet.Store(true) }},
		{health.MetadataWrite, func(f *fixture) { f.p.failUpdate.Store(true) }},
		{health.Queue, func(f *fixture) { f.p.failQ.Store(true) }},
		{health.State, func(f *fixture) { require.NoError(t, f.b.State.Remove(context.Background())) }},
		{health.Model, func(f *fixture) {
			for range 30 {
				f.hs.Observe("/v1/mailboxes/{number}/messages", 500, time.Millisecond)
			}
		}},
		{health.Model, func(f *fixture) {
			for range 30 {
				f.hs.Observe("/v1/mailboxes/{number}", 200, 5*time.Second)
			}
		}},
	} {
		t.Run(tc.component, func(t *testing.T) {
			f := setup(t, health.Options{Model: health.ModelOptions{MinRequests: 10}})
			for range 50 {
				f.hs.Observe("/health/stamp", 503, 10*time.Second) // probes never count
				f.hs.Observe("/v1/mailboxes/{number}", 200, time.Millisecond)
			}
			tc.fail(f)
			code, rep := f.stamp(t)
			assert.Equal(t, 503, code)
			assert.Equal(t, "unhealthy", rep.Status)
			assert.Equal(t, []string{tc.component}, rep.Unhealthy, "only the failing component is named")
			assert.NotEmpty(t, rep.Components[tc.component].Error)
		})
	}
}

// Failures keep the stamp out of rotation for the model's window after they stop (no traffic
// reaches it to dilute them), and no longer: the window is the stamp's return time.
func TestModelFailuresAgeOutAfterTheWindow(t *testing.T) {
	for _, window := range []time.Duration{0, 15 * time.Second} { // 0: the 60 s default
		f := setup(t, health.Options{CacheTTL: time.Nanosecond, Model: health.ModelOptions{Window: window}})
		for range 30 {
			f.hs.Observe("/v1/mailboxes/{number}/messages", 500, time.Millisecond)
		}
		if window == 0 {
			window = time.Minute
		}
		f.clock.add(window - 2*time.Second)
		code, rep := f.stamp(t)
		assert.Equal(t, 503, code, "window %s: failures still inside it", window)
		assert.Equal(t, []string{health.Model}, rep.Unhealthy)
		f.clock.add(2 * time.Second)
		code, rep = f.stamp(t)
		assert.Equal(t, 200, code, "window %s: failures aged out: %v", window, rep.Unhealthy)
	}
}

func TestStateRemovalDrainsWithinOneCacheWindow(t *testing.T) {
	f := setup(t, health.Options{CacheTTL: 10 * time.Second})
	code, _ := f.stamp(t)
	require.Equal(t, 200, code)
	require.NoError(t, f.b.State.Remove(context.Background()))
	f.clock.add(10 * time.Second) // one cache window later
	code, rep := f.stamp(t)
	assert.Equal(t, 503, code)
	assert.Equal(t, []string{health.State}, rep.Unhealthy)
	require.NoError(t, f.b.State.Write(context.Background()))
	code, _ = f.stamp(t)
	assert.Equal(t, 503, code, "still cached")
	f.clock.add(10 * time.Second)
	code, _ = f.stamp(t)
	assert.Equal(t, 200, code, "restored when the marker is written")
}

func TestConcurrentProbesCauseOneRound(t *testing.T) {
	f := setup(t, health.Options{})
	var wg sync.WaitGroup
	codes := make([]int, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(f.url + "/health/stamp")
			if assert.NoError(t, err) {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	for _, c := range codes {
		assert.Equal(t, 200, c)
	}
	assert.Equal(t, int64(1), f.hs.Rounds())
	assert.Equal(t, int64(1), f.p.gets.Load(), "one metadata read")
	assert.Equal(t, int64(1), f.p.updates.Load(), "one metadata write")
	assert.Equal(t, int64(1), f.p.sends.Load(), "one queue probe")
}

func TestHungDependencyAnswersAtTimeout(t *testing.T) {
	f := setup(t, health.Options{Timeout: 200 * time.Millisecond})
	f.p.hangGet.Store(true)
	code, rep := f.stamp(t)
	assert.Equal(t, 503, code)
	assert.Equal(t, []string{health.MetadataRead}, rep.Unhealthy)
}
