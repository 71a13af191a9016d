// Package metrics holds the service's Prometheus collectors: HTTP requests by route and code,
// deposits by path (direct or queue fallback), queue drain results and health check results.
package metrics

import (
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/voicemail-platform/voicemail/contract"
)

// Metrics is one registry's collectors. It implements voicemail.Observer.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	deposits  *prometheus.CounterVec
	drained   *prometheus.CounterVec
	health    *prometheus.GaugeVec
	healthRun prometheus.Counter
}

// New registers the collectors (and Go/process collectors) in a fresh registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "voicemail_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "voicemail_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		deposits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "voicemail_deposits_total", Help: `Accepted deposits by path: "direct" or "queue" (store failed, queue fallback).`,
		}, []string{"path"}),
		drained: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "voicemail_queue_drained_total", Help: `Queue messages processed by the drainer: "stored" deposits, "dropped" health probes and poison messages.`,
		}, []string{"result"}),
		health: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "voicemail_health_component_up", Help: "Last health check result per component (1 healthy, 0 unhealthy).",
		}, []string{"component"}),
		healthRun: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "voicemail_health_check_rounds_total", Help: "Rounds of backend health checks run (cache misses).",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.deposits, m.drained, m.health, m.healthRun,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// EdgeCertificate exports the served edge certificate's end of validity, notAfter read at each
// scrape, as contract.EdgeCertificateMetric (Unix seconds), so an expiry alert sees a renewal
// as soon as handshakes present it.
func (m *Metrics) EdgeCertificate(notAfter func() time.Time) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: contract.EdgeCertificateMetric, Help: "End of validity (Unix seconds) of the edge TLS certificate new handshakes are given.",
	}, func() float64 { return float64(notAfter().Unix()) }))
}

// Registry exposes the registry (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Deposited implements voicemail.Observer.
func (m *Metrics) Deposited(path string) { m.deposits.WithLabelValues(path).Inc() }

// Drained implements voicemail.Observer.
func (m *Metrics) Drained(stored, dropped int) {
	m.drained.WithLabelValues("stored").Add(float64(stored))
	m.drained.WithLabelValues("dropped").Add(float64(dropped))
}

// HealthRound records one round of checks and each component's result.
func (m *Metrics) HealthRound(results map[string]bool) {
	m.healthRun.Inc()
	for c, ok := range results {
		v := 0.0
		if ok {
			v = 1
		}
		m.health.WithLabelValues(c).Set(v)
	}
}

type statusWriter struct {
	http.ResponseWriter
	code   int
	client *clientClock
}

// clientClock adds up the time a request spends waiting on its client: reading the body as
// it arrives and writing the answer while the client is slow to take it.
type clientClock struct{ d atomic.Int64 }

func (c *clientClock) since(t time.Time) { c.d.Add(int64(time.Since(t))) }

type timedBody struct {
	io.ReadCloser
	client *clientClock
}

func (b timedBody) Read(p []byte) (int, error) {
	defer b.client.since(time.Now())
	return b.ReadCloser.Read(p)
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	defer w.client.since(time.Now())
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Observation is one finished request, for the health model's error-rate and latency window.
type Observation struct {
	Route   string // the mux pattern, "unmatched" if none
	Code    int
	Latency time.Duration
	// Work is Latency less the time spent waiting on the client (reading its body, writing
	// to it): the server's own share, which is what the health model judges, so a client
	// that uploads or reads slowly on purpose cannot make the stamp look slow.
	Work time.Duration
}

// methods bounds the method label: anything else counts as OTHER, so random methods cannot
// create new series.
var methods = map[string]bool{http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true}

func methodLabel(m string) string {
	if methods[m] {
		return m
	}
	return "OTHER"
}

// Instrument wraps h, labelling requests with the mux pattern that matched (r.Pattern, set
// once the inner mux routed) so label cardinality stays bounded. observe, if not nil, also
// receives every request.
func (m *Metrics) Instrument(h http.Handler, observe func(Observation)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		client := &clientClock{}
		sw := &statusWriter{ResponseWriter: w, client: client}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = timedBody{ReadCloser: r.Body, client: client}
		}
		h.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		method := methodLabel(r.Method)
		m.requests.WithLabelValues(route, method, strconv.Itoa(sw.code)).Inc()
		m.latency.WithLabelValues(route, method).Observe(d.Seconds())
		if observe != nil {
			observe(Observation{Route: route, Code: sw.code, Latency: d, Work: max(0, d-time.Duration(client.d.Load()))})
		}
	})
}
