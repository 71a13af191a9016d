package health_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/health"
)

// Run both in one invocation and compare ns/op:
//
//	go test -run '^$' -bench 'Stamp|Bare' -benchtime 3s ./app/internal/health/
//
// Both go through a real loopback HTTP server and client with keep-alive, parallel clients.
func benchServer(b *testing.B, h http.Handler) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := srv.URL + "/health/stamp"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func BenchmarkStampCached(b *testing.B) {
	f := setup(b, health.Options{})
	mux := http.NewServeMux()
	f.hs.Register(mux)
	f.hs.Check(b.Context()) // fill the cache; the fake clock never advances, so it stays warm
	benchServer(b, mux)
}

func BenchmarkBareHandler(b *testing.B) {
	body := []byte(`{"status":"healthy","stamp":"stamp-1","region":"local","checkedAt":"2026-11-22T07:33:40.719942385Z","components":{"health-model":{"healthy":true,"latencyMs":0},"metadata-read":{"healthy":true,"latencyMs":0},"metadata-write":{"healthy":true,"latencyMs":1},"queue":{"healthy":true,"latencyMs":1},"state":{"healthy":true,"latencyMs":0}}}` + "\n")
	mux := http.NewServeMux()
	mux.HandleFunc("/health/stamp", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	benchServer(b, mux)
}

// BenchmarkStampVsBarePaired alternates one /health/stamp (cached) and one bare-handler request
// per iteration on parallel clients, so both see the same machine load, and reports the
// throughput ratio stamp/bare (target >= 0.8):
//
//	go test -run '^$' -bench Paired -benchtime 3s ./app/internal/health/
func BenchmarkStampVsBarePaired(b *testing.B) {
	f := setup(b, health.Options{})
	mux := http.NewServeMux()
	f.hs.Register(mux)
	f.hs.Check(b.Context())
	stamp := httptest.NewServer(mux)
	defer stamp.Close()
	bareMux := http.NewServeMux()
	body, _ := json.Marshal(f.hs.Check(b.Context()))
	bareMux.HandleFunc("/health/stamp", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(body, '\n'))
	})
	bare := httptest.NewServer(bareMux)
	defer bare.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var stampNs, bareNs atomic.Int64
	get := func(url string, total *atomic.Int64) bool {
		t0 := time.Now()
		resp, err := client.Get(url + "/health/stamp")
		if err != nil {
			b.Error(err)
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		total.Add(int64(time.Since(t0)))
		return resp.StatusCode == 200
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			// Alternate the order too, so neither always runs on a warmer connection.
			if i%2 == 0 {
				_ = get(stamp.URL, &stampNs) && get(bare.URL, &bareNs)
			} else {
				_ = get(bare.URL, &bareNs) && get(stamp.URL, &stampNs)
			}
		}
	})
	n := float64(b.N)
	b.ReportMetric(float64(stampNs.Load())/n, "stamp-ns/req")
	b.ReportMetric(float64(bareNs.Load())/n, "bare-ns/req")
	b.ReportMetric(float64(bareNs.Load())/float64(stampNs.Load()), "stamp/bare-throughput")
}
