// Package health is the stamp's HealthService: GET|HEAD contract.StampHealthPath answers 200
// or 503 with a JSON summary per component; checks run in parallel under an overall timeout
// and the result is cached, with single-flight, so any number of probers (Traffic Manager, the
// management service, the local traffic manager) cause at most one round of backend calls per
// cache window. /health/liveness and /health/ready touch no dependency.
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/contract"
)

// Component names in the JSON summary.
const (
	MetadataRead  = "metadata-read"
	MetadataWrite = "metadata-write"
	Queue         = "queue"
	State         = contract.StateComponent // the state blob; the manager ignores it when judging
	Model         = "health-model"
)

// Recorder receives each round's results (metrics).
type Recorder interface {
	HealthRound(results map[string]bool)
}

// ModelOptions are the health model's thresholds over a sliding window of API requests.
type ModelOptions struct {
	Window       time.Duration // default 60 s
	MinRequests  int           // below this many requests the model has no opinion; default 20
	MaxErrorRate float64       // share of 5xx answers; default 0.10
	SlowLatency  time.Duration // a request slower than this is slow; default 2 s
	MaxSlowRate  float64       // share of slow requests; default 0.10
}

// Options configure the service.
type Options struct {
	Backend *store.Backend
	Stamp   string
	Region  string
	// Timeout bounds one round of checks (default 3 s); CacheTTL is how long a result is
	// served (default 10 s).
	Timeout  time.Duration
	CacheTTL time.Duration
	Model    ModelOptions
	Recorder Recorder
	Logger   *slog.Logger
	Now      func() time.Time
}

// ComponentResult is one check's outcome.
type ComponentResult struct {
	Healthy   bool   `json:"healthy"`
	LatencyMs int64  `json:"latencyMs"`
	Error     string `json:"error,omitempty"`
}

// Report is the stamp health answer's body.
type Report struct {
	Status     string                     `json:"status"` // "healthy" or "unhealthy"
	Stamp      string                     `json:"stamp"`
	Region     string                     `json:"region"`
	CheckedAt  time.Time                  `json:"checkedAt"`
	Unhealthy  []string                   `json:"unhealthy,omitempty"` // failing components, sorted
	Components map[string]ComponentResult `json:"components"`
}

// Healthy reports whether every component passed.
func (r Report) Healthy() bool { return r.Status == "healthy" }

// Service runs and caches the checks.
type Service struct {
	opt    Options
	log    *slog.Logger
	model  *model
	ready  atomic.Bool
	mu     sync.Mutex
	cached *Report
	body   []byte // cached encoded
	at     time.Time
	flight chan struct{} // closed when the running round finishes; nil when none runs
	rounds atomic.Int64
}

// New builds the service; it starts ready.
func New(opt Options) *Service {
	if opt.Timeout <= 0 {
		opt.Timeout = 3 * time.Second
	}
	if opt.CacheTTL <= 0 {
		opt.CacheTTL = 10 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Service{opt: opt, log: opt.Logger, model: newModel(opt.Model, opt.Now)}
	s.ready.Store(true)
	return s
}

// SetReady flips /health/ready (main sets false on SIGTERM so Kubernetes stops routing).
func (s *Service) SetReady(ok bool) { s.ready.Store(ok) }

// Rounds counts rounds of backend checks run so far.
func (s *Service) Rounds() int64 { return s.rounds.Load() }

// Observe feeds one finished API request to the health model; health and metrics routes are
// ignored so probes cannot make the stamp judge itself. latency should be the server's own
// share of the request (metrics.Observation.Work), not time spent waiting on the client.
func (s *Service) Observe(route string, code int, latency time.Duration) {
	if strings.HasPrefix(route, "/health/") || route == "/metrics" {
		return
	}
	s.model.observe(code, latency)
}

// Register adds the health routes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc(contract.StampHealthPath, s.serveStamp)
	mux.HandleFunc(contract.LivenessPath, func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, r, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc(contract.ReadinessPath, func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeStatus(w, r, http.StatusServiceUnavailable, map[string]string{"status": "shutting-down"})
			return
		}
		writeStatus(w, r, http.StatusOK, map[string]string{"status": "ready"})
	})
}

func writeStatus(w http.ResponseWriter, r *http.Request, code int, v any) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		code, v = http.StatusMethodNotAllowed, map[string]string{"status": "method not allowed"}
	}
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)+1))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(b, '\n'))
	}
}

func (s *Service) serveStamp(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeStatus(w, r, 0, nil)
		return
	}
	if !s.ready.Load() {
		// Shutting down: tell Traffic Manager to move away before the listener closes.
		writeStatus(w, r, http.StatusServiceUnavailable, Report{Status: "unhealthy", Stamp: s.opt.Stamp, Region: s.opt.Region,
			CheckedAt: s.opt.Now().UTC(), Unhealthy: []string{"shutting-down"}})
		return
	}
	rep, body := s.check(r.Context())
	code := http.StatusOK
	if !rep.Healthy() {
		code = http.StatusServiceUnavailable
	}
	if body == nil { // the prober gave up before the round finished
		body, _ = json.Marshal(rep)
		body = append(body, '\n')
	}
	// The body is encoded once per round, so a cached answer costs no more than a static one.
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = noStore
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

var (
	contentTypeJSON = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// Check returns the cached report, or joins/starts the one round of checks in flight. The round
// runs detached from ctx (a prober giving up must not cancel it for the others); ctx only
// bounds this caller's wait.
func (s *Service) Check(ctx context.Context) Report {
	rep, _ := s.check(ctx)
	return rep
}

func (s *Service) check(ctx context.Context) (Report, []byte) {
	s.mu.Lock()
	if s.cached != nil && s.opt.Now().Sub(s.at) < s.opt.CacheTTL {
		rep, body := *s.cached, s.body
		s.mu.Unlock()
		return rep, body
	}
	done := s.flight
	if done == nil {
		done = make(chan struct{})
		s.flight = done
		go s.round(done)
	}
	s.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return Report{Status: "unhealthy", Stamp: s.opt.Stamp, Region: s.opt.Region, CheckedAt: s.opt.Now(), Unhealthy: []string{"probe-canceled"}}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.cached, s.body
}

type check struct {
	name string
	run  func(ctx context.Context) error
}

func (s *Service) checks() []check {
	b := s.opt.Backend
	probeKey := store.RowKey("probe:"+s.opt.Stamp, s.opt.Region)
	return []check{
		{MetadataRead, func(ctx context.Context) error {
			_, err := b.Meta.Get(ctx, "health", probeKey)
			if store.Unavailable(err) {
				return err
			}
			return nil
		}},
		{MetadataWrite, func(ctx context.Context) error {
			now := s.opt.Now().UTC().Format(time.RFC3339Nano)
			_, err := b.Meta.Update(ctx, "health", probeKey, func([]byte) ([]byte, error) {
				return json.Marshal(map[string]string{"stamp": s.opt.Stamp, "at": now})
			})
			return err
		}},
		{Queue, func(ctx context.Context) error {
			return b.Queue.Send(ctx, fmt.Sprintf("%s stamp=%s at=%s", voicemail.HealthcheckMarker, s.opt.Stamp, s.opt.Now().UTC().Format(time.RFC3339Nano)))
		}},
		{State, func(ctx context.Context) error {
			ok, err := b.State.Present(ctx)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("state marker missing: stamp is drained")
			}
			return nil
		}},
		{Model, func(context.Context) error { return s.model.verdict() }},
	}
}

func (s *Service) round(done chan struct{}) {
	s.rounds.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), s.opt.Timeout)
	defer cancel()
	checks := s.checks()
	type result struct {
		name string
		res  ComponentResult
	}
	out := make(chan result, len(checks))
	for _, c := range checks {
		go func() {
			start := time.Now()
			err := c.run(ctx)
			r := ComponentResult{Healthy: err == nil, LatencyMs: time.Since(start).Milliseconds()}
			if err != nil {
				r.Error = err.Error()
			}
			out <- result{c.name, r}
		}()
	}
	rep := Report{Status: "healthy", Stamp: s.opt.Stamp, Region: s.opt.Region, Components: map[string]ComponentResult{}}
	for range checks {
		select {
		case r := <-out:
			rep.Components[r.name] = r.res
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	// A check still running at the deadline is a hung dependency: unhealthy, not waited for.
	for _, c := range checks {
		if _, ok := rep.Components[c.name]; !ok {
			rep.Components[c.name] = ComponentResult{LatencyMs: s.opt.Timeout.Milliseconds(), Error: fmt.Sprintf("no answer within %s", s.opt.Timeout)}
		}
	}
	results := map[string]bool{}
	for name, r := range rep.Components {
		results[name] = r.Healthy
		if !r.Healthy {
			rep.Unhealthy = append(rep.Unhealthy, name)
		}
	}
	slices.Sort(rep.Unhealthy)
	if len(rep.Unhealthy) > 0 {
		rep.Status = "unhealthy"
		s.log.Warn("stamp unhealthy", "components", rep.Unhealthy)
	}
	rep.CheckedAt = s.opt.Now().UTC()
	if s.opt.Recorder != nil {
		s.opt.Recorder.HealthRound(results)
	}
	body, _ := json.Marshal(rep)
	body = append(body, '\n')
	s.mu.Lock()
	s.cached, s.body, s.at, s.flight = &rep, body, s.opt.Now(), nil
	s.mu.Unlock()
	close(done)
}

// model keeps per-second buckets of request outcomes over the window.
type model struct {
	opt     ModelOptions
	now     func() time.Time
	mu      sync.Mutex
	buckets []bucket
}

type bucket struct {
	sec                 int64
	total, errors, slow int
}

func newModel(opt ModelOptions, now func() time.Time) *model {
	if opt.Window <= 0 {
		opt.Window = time.Minute
	}
	if opt.MinRequests <= 0 {
		opt.MinRequests = 20
	}
	if opt.MaxErrorRate <= 0 {
		opt.MaxErrorRate = 0.10
	}
	if opt.SlowLatency <= 0 {
		opt.SlowLatency = 2 * time.Second
	}
	if opt.MaxSlowRate <= 0 {
		opt.MaxSlowRate = 0.10
	}
	n := max(1, int(opt.Window/time.Second))
	return &model{opt: opt, now: now, buckets: make([]bucket, n)}
}

func (m *model) observe(code int, latency time.Duration) {
	sec := m.now().Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	b := &m.buckets[int(sec%int64(len(m.buckets)))]
	if b.sec != sec {
		*b = bucket{sec: sec}
	}
	b.total++
	if code >= 500 {
		b.errors++
	}
	// A 4xx answer is the client's failure (a wrong PIN waits on purpose); its time is not
	// the stamp's.
	if latency > m.opt.SlowLatency && (code < 400 || code >= 500) {
		b.slow++
	}
}

func (m *model) verdict() error {
	now := m.now().Unix()
	var total, errs, slow int
	m.mu.Lock()
	for _, b := range m.buckets {
		if now-b.sec < int64(len(m.buckets)) {
			total, errs, slow = total+b.total, errs+b.errors, slow+b.slow
		}
	}
	m.mu.Unlock()
	if total < m.opt.MinRequests {
		return nil
	}
	if rate := float64(errs) / float64(total); rate > m.opt.MaxErrorRate {
		return fmt.Errorf("error rate %.0f%% of %d requests exceeds %.0f%%", 100*rate, total, 100*m.opt.MaxErrorRate)
	}
	if rate := float64(slow) / float64(total); rate > m.opt.MaxSlowRate {
		return fmt.Errorf("%.0f%% of %d requests slower than %s (limit %.0f%%)", 100*rate, total, m.opt.SlowLatency, 100*m.opt.MaxSlowRate)
	}
	return nil
}
