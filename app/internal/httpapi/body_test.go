package httpapi_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/httpapi"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// realServer serves the API with the stamp's server timeouts (server.App.Serve): a request
// may take 5 minutes to arrive, for phones uploading over slow links.
func realServer(t *testing.T, stall time.Duration) string {
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, "4930111", "8264")
	mux := http.NewServeMux()
	httpapi.New(httpapi.Options{Service: svc, OperatorToken: token, BodyStallTimeout: stall}).Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Config.ReadTimeout = 5 * time.Minute
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// A stranger sends a request with a body and no credentials, and trickles the body: the
// server answers 401 and closes, instead of reading the body to reuse the connection for as
// long as the request timeout allows.
func TestAttackSlowUnauthenticatedBodyHoldsConnection(t *testing.T) {
	addr := realServer(t, 15*time.Second)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/mailboxes/4930111/greetings/unavailable HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nContent-Length: 100000\r\n\r\nRIFF")
	start := time.Now()
	// Trickle a byte every 100 ms, as a slowloris client does, until the server hangs up.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte{0}); err != nil {
					return
				}
			}
		}
	}()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(15*time.Second)))
	rd := bufio.NewReader(conn)
	res, err := http.ReadResponse(rd, nil)
	require.NoError(t, err, "no answer while the body trickles")
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	_, _ = io.Copy(io.Discard, res.Body)
	_, err = rd.ReadByte()
	require.Error(t, err, "the server closes the connection")
	held := time.Since(start)
	t.Logf("unauthenticated slow body: answered and closed %.2fs after the request", held.Seconds())
	assert.Less(t, held, 10*time.Second)
}

// Uploads that declare megabytes and then stall: memory follows what arrived, not what was
// declared, and each stalled upload ends with 408 after the stall timeout.
func TestAttackStalledUploadsReserveDeclaredSize(t *testing.T) {
	addr := realServer(t, 2*time.Second)
	const n = 30
	const declared = 2_000_000 // under the default mailbox's limit (180 s of PCM16)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	var wg sync.WaitGroup
	codes := make([]int, n)
	took := make([]time.Duration, n)
	for i := range n {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer conn.Close()
			start := time.Now()
			fmt.Fprintf(conn, "POST /v1/mailboxes/4930111/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
				"Content-Type: audio/wav\r\nContent-Length: %d\r\n\r\n%s", token, declared, strings.Repeat("\x00", 1024))
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err == nil {
				codes[i], took[i] = res.StatusCode, time.Since(start)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	grew := int64(peak.Load()) - int64(base)
	slowest := time.Duration(0)
	for _, d := range took {
		slowest = max(slowest, d)
	}
	t.Logf("%d uploads declaring %d bytes, 1 KiB sent: peak heap growth %.1f MB (declared total %.0f MB); answered by %.2fs",
		n, declared, float64(grew)/1e6, float64(n*declared)/1e6, slowest.Seconds())
	for i, c := range codes {
		assert.Equal(t, http.StatusRequestTimeout, c, "upload %d", i)
	}
	assert.Less(t, grew, int64(n*declared/4), "memory follows the bytes received")
}

// A WAV whose data chunk declares 4 GB over a few seconds of samples was stored with its
// false header, for every player to trust later. It is refused with an error that says why.
func TestAttackWAVDeclaringFalseDataSize(t *testing.T) {
	c := setup(t, vm.Options{})
	voicemailtest.Provision(t, c.svc, "4930111", "8264")
	w := wav(time.Second)
	idx := strings.Index(string(w), "data")
	require.Positive(t, idx)
	binary.LittleEndian.PutUint32(w[idx+4:], 0xFFFFFFFF)
	res, body := c.do("POST", "/v1/mailboxes/4930111/messages", operator, "audio/wav", w)
	t.Logf("deposit declaring a 4 GB data chunk over 1 s of audio: %d %s", res.StatusCode, strings.TrimSpace(string(body)))
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, string(body), "declares 4294967295 bytes")
	msgs, err := c.svc.Messages(context.Background(), "4930111", "")
	require.NoError(t, err)
	assert.Empty(t, msgs, "nothing stored")
}
