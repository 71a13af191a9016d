package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
)

// Requests with made-up methods must not create a metric series each.
func TestAttackMetricLabelsRandomMethods(t *testing.T) {
	m := New()
	h := m.Instrument(http.NewServeMux(), nil)
	for i := 0; i < 3000; i++ {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(fmt.Sprintf("X%05d", i), "/v1/x", nil))
	}
	n := testutil.CollectAndCount(m.requests) + testutil.CollectAndCount(m.latency)
	t.Logf("3000 requests with random methods made %d series", n)
	assert.LessOrEqual(t, n, 4)
}
