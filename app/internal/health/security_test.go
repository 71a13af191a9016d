package health_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/voicemail-platform/voicemail/app/internal/health"
	"github.com/voicemail-platform/voicemail/app/internal/metrics"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// slowReader dribbles n bytes over d.
type slowReader struct {
	left  int
	every time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.every)
	r.left--
	p[0] = 'x'
	return 1, nil
}

// A subscriber uploading slowly on purpose (25 uploads, each dribbled over 2.2 s) must not
// make the health model judge the stamp slow: only the server's own work counts.
func TestAttackSlowUploadsDrainStamp(t *testing.T) {
	hs := health.New(health.Options{Backend: voicemailtest.New(t).Backend(), Stamp: "s1", Region: "local"})
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/upload", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	m := metrics.New()
	srv := httptest.NewServer(m.Instrument(mux, func(o metrics.Observation) { hs.Observe(o.Route, o.Code, o.Work) }))
	defer srv.Close()
	var wg sync.WaitGroup
	for i := 0; i < 25; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("PUT", srv.URL+"/v1/upload", &slowReader{left: 11, every: 200 * time.Millisecond})
			req.ContentLength = -1
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	model := hs.Check(context.Background()).Components[health.Model]
	t.Logf("after 25 deliberately slow uploads the health model says healthy=%v %s", model.Healthy, model.Error)
	assert.True(t, model.Healthy, fmt.Sprint(model.Error))
}
