// Package tmemulator emulates Azure Traffic Manager on one machine: it probes every stamp's
// health endpoint with Traffic Manager's monitor rules (interval, timeout, tolerated failures,
// expected status range) and answers each request with a healthy endpoint chosen by the routing
// method (Weighted, Priority, Performance). Handler proxies HTTP to the chosen endpoint, so a
// local client sees the failover a DNS client of Traffic Manager would see, without the TTL.
package tmemulator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Endpoint is one stamp behind the profile.
type Endpoint struct {
	Name     string   // stamp id
	Region   string   // for Performance routing
	Target   *url.URL // base URL, e.g. http://127.0.0.1:8081
	Weight   int      // 1..1000 (Weighted)
	Priority int      // 1 is tried first (Priority)
	Enabled  bool
}

// Config is the profile's routing and monitor settings.
type Config struct {
	RoutingMethod     string // Weighted (default), Priority or Performance
	Path              string // probe path, default contract.StampHealthPath
	Interval          time.Duration
	Timeout           time.Duration
	ToleratedFailures int
	// ExpectedStatus is the inclusive healthy status range (default 200..299).
	ExpectedStatus [2]int
	// ClientRegion stands in for the client's location under Performance routing: endpoints
	// in it are preferred, then the others in endpoint order.
	ClientRegion string
	// UpstreamTLS verifies the stamps' HTTPS certificates on the data path (nil: the system's
	// roots). Probes, like Azure Traffic Manager's HTTPS probes, need a certificate but do not
	// verify it (https://learn.microsoft.com/azure/traffic-manager/traffic-manager-monitoring).
	UpstreamTLS *tls.Config
	Logger      *slog.Logger
}

// FromTopology builds the config and endpoint list of a stack's topology; base maps stamp
// ids to their local base URL. Stamps without a URL are left out.
func FromTopology(t topology.Topology, base map[string]*url.URL) (Config, []Endpoint) {
	m := t.Monitor
	cfg := Config{RoutingMethod: m.RoutingMethod, Path: m.Path, Interval: m.Interval, Timeout: m.Timeout,
		ToleratedFailures: m.ToleratedFailures, ExpectedStatus: m.ExpectedStatus}
	var eps []Endpoint
	for _, s := range t.Stamps {
		u, ok := base[s.ID]
		if !ok {
			continue
		}
		eps = append(eps, Endpoint{Name: s.ID, Region: s.Region, Target: u, Weight: s.Weight,
			Priority: s.Priority, Enabled: !s.Drained})
	}
	return cfg, eps
}

// Status is an endpoint's monitor status, named as in Azure.
type Status string

const (
	Checking Status = "CheckingEndpoint"
	Online   Status = "Online"
	Degraded Status = "Degraded"
	Disabled Status = "Disabled"
)

// EndpointStatus is a snapshot of one endpoint.
type EndpointStatus struct {
	Endpoint
	Status   Status
	Failures int       // consecutive failed probes
	Changed  time.Time // last status change
	LastCode int       // last probe's HTTP status, 0 when it failed to answer
	LastErr  string
}

type state struct {
	ep      Endpoint
	status  Status
	fails   int
	changed time.Time
	code    int
	err     string
	proxy   *httputil.ReverseProxy
}

// Manager is one profile. Safe for concurrent use.
type Manager struct {
	cfg    Config
	client *http.Client
	// upstream carries proxied API requests to the stamps.
	upstream *http.Transport
	log      *slog.Logger

	mu   sync.Mutex
	eps  []*state
	rand *rand.Rand
}

// ErrNoEndpoint is returned by Resolve when every endpoint is disabled.
var ErrNoEndpoint = errors.New("trafficmanager: no enabled endpoint")

// New validates the config and endpoints. Call Run to start probing.
func New(cfg Config, eps []Endpoint) (*Manager, error) {
	if cfg.RoutingMethod == "" {
		cfg.RoutingMethod = "Weighted"
	}
	switch cfg.RoutingMethod {
	case "Weighted", "Priority", "Performance":
	default:
		return nil, fmt.Errorf("trafficmanager: routingMethod %q not supported (Weighted, Priority, Performance)", cfg.RoutingMethod)
	}
	if cfg.Path == "" {
		cfg.Path = topology.HealthPath
	}
	if cfg.Interval <= 0 || cfg.Timeout <= 0 || cfg.Timeout >= cfg.Interval {
		return nil, fmt.Errorf("trafficmanager: need 0 < timeout (%s) < interval (%s)", cfg.Timeout, cfg.Interval)
	}
	if cfg.ToleratedFailures < 0 {
		return nil, fmt.Errorf("trafficmanager: toleratedFailures %d < 0", cfg.ToleratedFailures)
	}
	if cfg.ExpectedStatus == [2]int{} {
		cfg.ExpectedStatus = [2]int{200, 299}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		cfg: cfg,
		// Keep-alives off: a probe must open a connection like a fresh Traffic Manager probe.
		client: &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}},
		upstream: &http.Transport{TLSClientConfig: cfg.UpstreamTLS,
			MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second},
		log:  cfg.Logger,
		rand: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x7f4a7c15)),
	}
	seen := map[string]bool{}
	now := time.Now()
	for _, e := range eps {
		if e.Name == "" || e.Target == nil || seen[e.Name] {
			return nil, fmt.Errorf("trafficmanager: endpoint %q: name must be unique and target set", e.Name)
		}
		seen[e.Name] = true
		if e.Weight <= 0 {
			e.Weight = 1
		}
		st := &state{ep: e, status: Checking, changed: now}
		if !e.Enabled {
			st.status = Disabled
		}
		st.proxy = m.newProxy(e)
		m.eps = append(m.eps, st)
	}
	return m, nil
}

func (m *Manager) newProxy(e Endpoint) *httputil.ReverseProxy {
	target := e.Target
	return &httputil.ReverseProxy{
		Transport: m.upstream,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
		},
		ModifyResponse: func(res *http.Response) error {
			res.Header.Set("X-Traffic-Manager-Endpoint", e.Name)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// The DNS answer pointed at a dead stamp: the client sees a connection failure,
			// which for an HTTP client through this proxy is a 502.
			w.Header().Set("X-Traffic-Manager-Endpoint", e.Name)
			http.Error(w, "endpoint "+e.Name+" unreachable: "+err.Error(), http.StatusBadGateway)
		},
	}
}

// Run probes every endpoint once at once and then every Interval until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	m.mu.Lock()
	eps := append([]*state(nil), m.eps...)
	m.mu.Unlock()
	for _, st := range eps {
		wg.Go(func() {
			t := time.NewTicker(m.cfg.Interval)
			defer t.Stop()
			for {
				m.probe(ctx, st)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	wg.Wait()
}

// ProbeAll runs one probe of every endpoint in parallel and waits for them.
func (m *Manager) ProbeAll(ctx context.Context) {
	m.mu.Lock()
	eps := append([]*state(nil), m.eps...)
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, st := range eps {
		wg.Go(func() { m.probe(ctx, st) })
	}
	wg.Wait()
}

func (m *Manager) probe(ctx context.Context, st *state) {
	m.mu.Lock()
	ep := st.ep
	m.mu.Unlock()
	if !ep.Enabled {
		return
	}
	code, err := m.check(ctx, ep)
	if ctx.Err() != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !st.ep.Enabled {
		return
	}
	st.code = code
	prev := st.status
	if err == nil {
		st.fails, st.err = 0, ""
		st.status = Online
	} else {
		st.fails++
		st.err = err.Error()
		// Traffic Manager marks an endpoint degraded once the failures exceed the tolerated
		// number; an endpoint still being checked is degraded on its first failure.
		if st.fails > m.cfg.ToleratedFailures || st.status == Checking {
			st.status = Degraded
		}
	}
	if st.status != prev {
		st.changed = time.Now()
		m.log.Info("endpoint status", "endpoint", ep.Name, "from", prev, "to", st.status, "code", code, "error", st.err)
	}
}

func (m *Manager) check(ctx context.Context, ep Endpoint) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	u := ep.Target.JoinPath(m.cfg.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "Azure Traffic Manager Endpoint Monitor (local)")
	res, err := m.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < m.cfg.ExpectedStatus[0] || res.StatusCode > m.cfg.ExpectedStatus[1] {
		return res.StatusCode, fmt.Errorf("status %d outside %d-%d", res.StatusCode, m.cfg.ExpectedStatus[0], m.cfg.ExpectedStatus[1])
	}
	return res.StatusCode, nil
}

// SetEnabled enables or disables an endpoint, as the endpoint's status setting in Azure does.
// A re-enabled endpoint starts in CheckingEndpoint.
func (m *Manager) SetEnabled(name string, enabled bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range m.eps {
		if st.ep.Name != name {
			continue
		}
		if st.ep.Enabled == enabled {
			return nil
		}
		st.ep.Enabled = enabled
		st.fails, st.changed = 0, time.Now()
		st.status = Disabled
		if enabled {
			st.status = Checking
		}
		return nil
	}
	return fmt.Errorf("trafficmanager: no endpoint %q", name)
}

// Statuses returns a snapshot of every endpoint in configuration order.
func (m *Manager) Statuses() []EndpointStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]EndpointStatus, 0, len(m.eps))
	for _, st := range m.eps {
		out = append(out, EndpointStatus{Endpoint: st.ep, Status: st.status, Failures: st.fails,
			Changed: st.changed, LastCode: st.code, LastErr: st.err})
	}
	return out
}

// Resolve answers like a DNS query of the profile: one endpoint, chosen by the routing method
// among Online (or still checking) endpoints. When every enabled endpoint is degraded it
// answers from all of them, as Traffic Manager does, since probes may be what is failing.
func (m *Manager) Resolve() (Endpoint, error) {
	st, err := m.pick()
	if err != nil {
		return Endpoint{}, err
	}
	return st.ep, nil
}

func (m *Manager) pick() (*state, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var healthy, enabled []*state
	for _, st := range m.eps {
		if !st.ep.Enabled {
			continue
		}
		enabled = append(enabled, st)
		if st.status == Online || st.status == Checking {
			healthy = append(healthy, st)
		}
	}
	if len(enabled) == 0 {
		return nil, ErrNoEndpoint
	}
	cands := healthy
	if len(cands) == 0 {
		cands = enabled
	}
	switch m.cfg.RoutingMethod {
	case "Priority":
		best := cands[0]
		for _, st := range cands[1:] {
			if st.ep.Priority < best.ep.Priority {
				best = st
			}
		}
		return best, nil
	case "Performance":
		// The nearest region stands for the lowest latency; its endpoints share evenly.
		region := m.cfg.ClientRegion
		var near []*state
		for _, st := range cands {
			if st.ep.Region == region {
				near = append(near, st)
			}
		}
		if len(near) == 0 {
			region = cands[0].ep.Region
			for _, st := range cands {
				if st.ep.Region == region {
					near = append(near, st)
				}
			}
		}
		return near[m.rand.IntN(len(near))], nil
	}
	total := 0
	for _, st := range cands {
		total += st.ep.Weight
	}
	n := m.rand.IntN(total)
	for _, st := range cands {
		if n < st.ep.Weight {
			return st, nil
		}
		n -= st.ep.Weight
	}
	return cands[len(cands)-1], nil
}

// ServeHTTP proxies the request to a resolved endpoint. The response carries the endpoint's
// name in X-Traffic-Manager-Endpoint.
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st, err := m.pick()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	st.proxy.ServeHTTP(w, r)
}
