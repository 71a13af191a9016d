package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/metrics"
)

func TestInstrumentLabelsByPatternAndCode(t *testing.T) {
	m := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/mailboxes/{number}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("number") == "404" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	mux.Handle("/metrics", m.Handler())
	var mu sync.Mutex
	var seen []metrics.Observation
	srv := httptest.NewServer(m.Instrument(mux, func(o metrics.Observation) {
		mu.Lock()
		seen = append(seen, o)
		mu.Unlock()
	}))
	defer srv.Close()
	for _, p := range []string{"/v1/mailboxes/1", "/v1/mailboxes/2", "/v1/mailboxes/404", "/nowhere"} {
		resp, err := http.Get(srv.URL + p)
		require.NoError(t, err)
		resp.Body.Close()
	}
	m.Deposited("queue")
	m.Drained(2, 1)
	m.HealthRound(map[string]bool{"state": false})

	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`voicemail_http_requests_total{code="200",method="GET",route="/v1/mailboxes/{number}"} 2`,
		`voicemail_http_requests_total{code="404",method="GET",route="/v1/mailboxes/{number}"} 1`,
		`voicemail_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`voicemail_deposits_total{path="queue"} 1`,
		`voicemail_queue_drained_total{result="stored"} 2`,
		`voicemail_health_component_up{component="state"} 0`,
	} {
		assert.True(t, strings.Contains(text, want), "missing %s", want)
	}
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(seen), 4)
	assert.Equal(t, "/v1/mailboxes/{number}", seen[0].Route)
	assert.Equal(t, 404, seen[2].Code)
}
