package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testToken = "operator-token-0123456789"

// testStamp is a stamp the test can break and heal.
type testStamp interface {
	ID() string
	URL() string
	Break(t *testing.T)
	Heal(t *testing.T)
}

// rig is one region: Azurite's state container, some stamps, and the manager's HTTP handler.
type rig struct {
	t         *testing.T
	conn      string
	container string
	cont      *Container
	stamps    []testStamp
	cfg       Config
	srv       *httptest.Server
	m         *Manager
}

func newRig(t *testing.T, conn, containerName string, stamps []testStamp, mutate func(*Config)) *rig {
	t.Helper()
	r := &rig{t: t, conn: conn, container: containerName, stamps: stamps}
	r.cont = newContainer(t, conn, containerName)
	r.cfg = Config{Region: "westeurope", FailThreshold: 3, RecoverThreshold: 2}
	for _, s := range stamps {
		r.cfg.Stamps = append(r.cfg.Stamps, Stamp{ID: s.ID(), URL: s.URL(), StateBlob: s.ID()})
	}
	if mutate != nil {
		mutate(&r.cfg)
	}
	r.restart()
	return r
}

// restart builds a new Manager and handler on the same persisted state, as a new process would.
func (r *rig) restart() {
	r.t.Helper()
	if r.srv != nil {
		r.srv.Close()
	}
	cont, err := NewContainerFromConnectionString(r.conn, r.container, "manager/test.json")
	require.NoError(r.t, err)
	m, err := New(r.cfg, cont, cont, HTTPProber{Path: stampHealthPath, StateComponent: stampStateComponent}, nil, slog.New(slog.DiscardHandler))
	require.NoError(r.t, err)
	r.m = m
	r.srv = httptest.NewServer(&Handler{M: m, OperatorToken: testToken, Log: slog.New(slog.DiscardHandler)})
	r.t.Cleanup(r.srv.Close)
}

// tick fires the timer trigger the way the Functions host does and returns the round.
func (r *rig) tick() map[string]TickResult {
	r.t.Helper()
	body := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"IsPastDue":false}},"Metadata":{}}`
	resp, err := http.Post(r.srv.URL+TimerPath, "application/json", strings.NewReader(body))
	require.NoError(r.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Equal(r.t, http.StatusOK, resp.StatusCode, string(raw))
	var inv struct {
		Outputs     map[string]any
		Logs        []string
		ReturnValue []TickResult
	}
	require.NoError(r.t, json.Unmarshal(raw, &inv))
	out := map[string]TickResult{}
	for _, tr := range inv.ReturnValue {
		out[tr.Stamp] = tr
	}
	return out
}

func (r *rig) blobExists(id string) bool {
	r.t.Helper()
	ok, err := r.cont.Exists(context.Background(), id)
	require.NoError(r.t, err)
	return ok
}

func (r *rig) operator(method, path, token string, body any) (int, []byte) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, r.srv.URL+path, rd)
	require.NoError(r.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// runScenarios is the behaviour the manager promises, run against whatever stamps mk builds.
func runScenarios(t *testing.T, conn string, mk func(t *testing.T, container, id, stateBlob string) testStamp) {
	t.Run("new stamp is bootstrapped, drained after N failures, restored after M successes", func(t *testing.T) {
		t.Parallel() // independent containers and stamps
		a, b := mk(t, "state-auto", "weu-1-v1", "weu-1-v1"), mk(t, "state-auto", "weu-2-v1", "weu-2-v1")
		r := newRig(t, conn, "state-auto", []testStamp{a, b}, nil)

		round := r.tick()
		assert.True(t, round["weu-1-v1"].Probe.Healthy, "%+v", round["weu-1-v1"].Probe)
		assert.True(t, r.blobExists("weu-1-v1"))
		assert.True(t, r.blobExists("weu-2-v1"))

		a.Break(t)
		for i := 1; i < r.cfg.FailThreshold; i++ {
			round = r.tick()
			assert.False(t, round["weu-1-v1"].Probe.Healthy)
			assert.True(t, r.blobExists("weu-1-v1"), "drained after only %d failures", i)
		}
		round = r.tick()
		assert.Equal(t, "drained", round["weu-1-v1"].Action)
		assert.False(t, r.blobExists("weu-1-v1"))
		assert.True(t, r.blobExists("weu-2-v1"), "the healthy stamp is untouched")

		a.Heal(t)
		for i := 1; i < r.cfg.RecoverThreshold; i++ {
			round = r.tick()
			assert.True(t, round["weu-1-v1"].Probe.Healthy, "a stamp drained only by its blob counts as healthy: %+v", round["weu-1-v1"].Probe)
			assert.False(t, r.blobExists("weu-1-v1"), "restored after only %d successes", i)
		}
		round = r.tick()
		assert.Equal(t, "restored", round["weu-1-v1"].Action)
		assert.True(t, r.blobExists("weu-1-v1"))

		// The history survives a restart and is visible to operators.
		r.restart()
		code, raw := r.operator(http.MethodGet, StampsPath, testToken, nil)
		require.Equal(t, http.StatusOK, code, string(raw))
		var st []StampStatus
		require.NoError(t, json.Unmarshal(raw, &st))
		require.Len(t, st, 2)
		assert.Equal(t, "weu-1-v1", st[0].Stamp.ID)
		assert.Len(t, st[0].History, 1+r.cfg.FailThreshold+r.cfg.RecoverThreshold)
		assert.False(t, st[0].Drained)
	})

	t.Run("operator drain is never undone, across restarts, until undrain", func(t *testing.T) {
		t.Parallel() // independent containers and stamps
		a := mk(t, "state-operator", "weu-1-v2", "weu-1-v2")
		r := newRig(t, conn, "state-operator", []testStamp{a}, nil)
		r.tick()
		require.True(t, r.blobExists("weu-1-v2"))

		code, raw := r.operator(http.MethodPost, StampsPath+"/weu-1-v2/drain", testToken, map[string]string{"reason": "node image upgrade"})
		require.Equal(t, http.StatusOK, code, string(raw))
		assert.False(t, r.blobExists("weu-1-v2"))

		for i := 0; i < r.cfg.RecoverThreshold+2; i++ {
			round := r.tick()
			assert.True(t, round["weu-1-v2"].Probe.Healthy)
			assert.True(t, round["weu-1-v2"].Drained)
		}
		assert.False(t, r.blobExists("weu-1-v2"), "manager undid an operator drain")

		r.restart()
		for i := 0; i < r.cfg.RecoverThreshold+1; i++ {
			r.tick()
		}
		assert.False(t, r.blobExists("weu-1-v2"), "operator drain lost on restart")

		code, raw = r.operator(http.MethodPost, StampsPath+"/weu-1-v2/undrain", testToken, nil)
		require.Equal(t, http.StatusOK, code, string(raw))
		assert.True(t, r.blobExists("weu-1-v2"))
		round := r.tick()
		assert.False(t, round["weu-1-v2"].Drained)
		assert.True(t, r.blobExists("weu-1-v2"))
	})

	t.Run("a blob removed with az CLI is an operator drain too", func(t *testing.T) {
		t.Parallel() // independent containers and stamps
		a := mk(t, "state-external", "weu-3-v1", "weu-3-v1")
		r := newRig(t, conn, "state-external", []testStamp{a}, nil)
		r.tick()
		require.NoError(t, r.cont.Delete(context.Background(), "weu-3-v1"))
		for i := 0; i < r.cfg.RecoverThreshold+2; i++ {
			assert.True(t, r.tick()["weu-3-v1"].Drained)
		}
		assert.False(t, r.blobExists("weu-3-v1"))
		// The operator's upload undrains; the manager keeps it.
		require.NoError(t, r.cont.Put(context.Background(), "weu-3-v1", []byte("{}")))
		assert.False(t, r.tick()["weu-3-v1"].Drained)
		assert.True(t, r.blobExists("weu-3-v1"))
	})

	t.Run("a stamp drained in the stack config stays drained", func(t *testing.T) {
		t.Parallel() // independent containers and stamps
		a := mk(t, "state-config", "weu-1-v3", "weu-1-v3")
		r := newRig(t, conn, "state-config", []testStamp{a}, func(c *Config) { c.Stamps[0].Drained = true })
		require.NoError(t, r.cont.Put(context.Background(), "weu-1-v3", []byte("{}")))
		for i := 0; i < r.cfg.RecoverThreshold+1; i++ {
			assert.True(t, r.tick()["weu-1-v3"].Drained)
		}
		assert.False(t, r.blobExists("weu-1-v3"))
		code, raw := r.operator(http.MethodPost, StampsPath+"/weu-1-v3/undrain", testToken, nil)
		assert.Equal(t, http.StatusConflict, code, string(raw))
		assert.False(t, r.blobExists("weu-1-v3"))
	})
}

func TestOperatorAPIErrors(t *testing.T) {
	conn := startAzurite(t)
	r := newRig(t, conn, "state-api", []testStamp{staticStamp{"s1", "http://127.0.0.1:1"}}, nil)
	cases := []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"no token", http.MethodGet, StampsPath, "", nil, http.StatusUnauthorized},
		{"wrong token", http.MethodPost, StampsPath + "/s1/drain", "nope", map[string]string{"reason": "x"}, http.StatusUnauthorized},
		{"unknown stamp", http.MethodPost, StampsPath + "/nope/drain", testToken, map[string]string{"reason": "x"}, http.StatusNotFound},
		{"unknown action", http.MethodPost, StampsPath + "/s1/explode", testToken, nil, http.StatusNotFound},
		{"drain without reason", http.MethodPost, StampsPath + "/s1/drain", testToken, nil, http.StatusBadRequest},
		{"unknown body field", http.MethodPost, StampsPath + "/s1/drain", testToken, map[string]string{"why": "x"}, http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, raw := r.operator(c.method, c.path, c.token, c.body)
			assert.Equal(t, c.want, code, string(raw))
			var e apiError
			require.NoError(t, json.Unmarshal(raw, &e), string(raw))
			assert.NotEmpty(t, e.Code)
		})
	}
	// Nothing above touched the state.
	st, err := r.m.Status(context.Background())
	require.NoError(t, err)
	assert.False(t, st[0].OperatorDrained)
}

func TestStoreConflict(t *testing.T) {
	conn := startAzurite(t)
	c := newContainer(t, conn, "state-conflict")
	ctx := context.Background()
	st, ver, err := c.Load(ctx)
	require.NoError(t, err)
	assert.Empty(t, ver)
	v1, err := c.Save(ctx, st, ver)
	require.NoError(t, err)
	_, err = c.Save(ctx, st, ver)
	assert.ErrorIs(t, err, ErrConflict, "a second create must conflict")
	_, err = c.Save(ctx, st, v1)
	require.NoError(t, err)
	_, err = c.Save(ctx, st, v1)
	assert.ErrorIs(t, err, ErrConflict, "a stale version must conflict")
}

type staticStamp struct{ id, url string }

func (s staticStamp) ID() string       { return s.id }
func (s staticStamp) URL() string      { return s.url }
func (staticStamp) Break(t *testing.T) {}
func (staticStamp) Heal(t *testing.T)  {}

// A stamp the manager has never seen gets its state blob on the first round (a new stamp
// starts healthy), and one that never answers is drained after FailThreshold rounds.
func TestBootstrapThenUnreachable(t *testing.T) {
	conn := startAzurite(t)
	r := newRig(t, conn, "state-bootstrap", []testStamp{staticStamp{"gone-1", "http://127.0.0.1:1"}}, nil)
	require.False(t, r.blobExists("gone-1"))
	round := r.tick()
	assert.Equal(t, "bootstrapped", round["gone-1"].Action)
	assert.True(t, r.blobExists("gone-1"))
	assert.False(t, round["gone-1"].Probe.Healthy)
	assert.Contains(t, round["gone-1"].Probe.Detail, "no response")
	for i := 1; i < r.cfg.FailThreshold; i++ {
		r.tick()
	}
	assert.False(t, r.blobExists("gone-1"))
	assert.True(t, r.tick()["gone-1"].Drained)
}
