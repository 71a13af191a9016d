package azure_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/azurite"
	"github.com/voicemail-platform/voicemail/app/internal/httpapi"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// HTTP deposits with a Content-Length stream: the audio is uploaded to Blob Storage while it
// still arrives. These tests send bodies in parts over a raw connection, with pauses, to pin
// what a deposit may and may not leave behind while its audio is half in.

// streamSpy records when streamed uploads start, and counts whole uploads.
type streamSpy struct {
	store.Blobs
	mu      sync.Mutex
	started []time.Time
	puts    int
}

func (s *streamSpy) Put(ctx context.Context, name string, data []byte) error {
	s.mu.Lock()
	s.puts++
	s.mu.Unlock()
	return s.Blobs.Put(ctx, name, data)
}

func (s *streamSpy) PutStream(ctx context.Context, name string, body io.ReadSeekCloser) error {
	s.mu.Lock()
	s.started = append(s.started, time.Now())
	s.mu.Unlock()
	return s.Blobs.(*azure.Blobs).PutStream(ctx, name, body)
}

type streamRig struct {
	t       *testing.T
	b       *store.Backend
	svc     *vm.Service
	spy     *streamSpy
	addr    string
	handled chan struct{} // one value per finished request
}

func newStreamRig(t *testing.T, cs string, storeTimeout time.Duration) *streamRig {
	cfg := config(cs)
	// An SDK per-try timeout far shorter than the slow senders below.
	cfg.Retry = &policy.RetryOptions{MaxRetries: 2, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond, TryTimeout: 100 * time.Millisecond}
	b, err := azure.Open(context.Background(), cfg)
	require.NoError(t, err)
	spy := &streamSpy{Blobs: b.Blobs}
	b.Blobs = spy
	svc, err := vm.New(vm.Options{Backend: b, Region: "west", StoreTimeout: storeTimeout, DrainVisibility: time.Second})
	require.NoError(t, err)
	mux := http.NewServeMux()
	httpapi.New(httpapi.Options{Service: svc, OperatorToken: "op-token"}).Register(mux)
	r := &streamRig{t: t, b: b, svc: svc, spy: spy, handled: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		mux.ServeHTTP(w, q)
		r.handled <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	r.addr = srv.Listener.Addr().String()
	return r
}

// post starts a deposit of wav and sends the request head and the first n bytes of the body.
func (r *streamRig) post(number string, wav []byte, n int) net.Conn {
	c, err := net.Dial("tcp", r.addr)
	require.NoError(r.t, err)
	r.t.Cleanup(func() { c.Close() })
	head := fmt.Sprintf("POST /v1/mailboxes/%s/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer op-token\r\n"+
		"Content-Type: audio/wav\r\nX-Caller-Id: +4917\r\nContent-Length: %d\r\n\r\n", number, len(wav))
	_, err = c.Write(append([]byte(head), wav[:n]...))
	require.NoError(r.t, err)
	return c
}

// response reads the answer to a deposit and decodes its JSON body.
func (r *streamRig) response(c net.Conn) (int, map[string]any) {
	require.NoError(r.t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(r.t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func (r *streamRig) waitHandled() {
	select {
	case <-r.handled:
	case <-time.After(20 * time.Second):
		r.t.Fatal("deposit handler never returned")
	}
}

// nothingStored asserts that number has no messages, no audio and no queued deposits.
func (r *streamRig) nothingStored(number string) {
	ctx := context.Background()
	msgs, err := r.svc.Messages(ctx, number, "")
	require.NoError(r.t, err)
	assert.Empty(r.t, msgs, "no message listed")
	blobs, err := r.b.Blobs.List(ctx, "audio/"+number+"/")
	require.NoError(r.t, err)
	assert.Empty(r.t, blobs, "no audio left behind")
	queued, err := r.b.Queue.Receive(ctx, 32, time.Second)
	require.NoError(r.t, err)
	assert.Empty(r.t, queued, "nothing queued")
}

// A sender slower than the store timeout and the SDK's per-try timeout is not a store outage: the upload waits for it, the
// deposit is stored directly (not queued), and the upload had started before the last byte.
func TestStreamedDepositWaitsForASlowSender(t *testing.T) {
	r := newStreamRig(t, az.ConnectionString(), 300*time.Millisecond)
	voicemailtest.Provision(t, r.svc, "4930700", "1234")
	wav := voicemailtest.WAV(audio.PCM16, 30*time.Second)

	c := r.post("4930700", wav, 64<<10)
	time.Sleep(time.Second) // over three store timeouts with the body half in
	lastByte := time.Now()
	_, err := c.Write(wav[64<<10:])
	require.NoError(t, err)
	status, body := r.response(c)
	require.Equal(t, http.StatusCreated, status, body)

	r.spy.mu.Lock()
	require.Len(t, r.spy.started, 1, "one streamed upload")
	assert.Zero(t, r.spy.puts, "and no second, whole upload")
	assert.True(t, r.spy.started[0].Before(lastByte), "the upload started before the audio was all in")
	r.spy.mu.Unlock()
	got, err := r.svc.Audio(context.Background(), "4930700", body["id"].(string))
	require.NoError(t, err)
	assert.Equal(t, wav, got, "stored audio is exactly what was sent")
	queued, err := r.b.Queue.Receive(context.Background(), 32, time.Second)
	require.NoError(t, err)
	assert.Empty(t, queued, "stored directly, not through the queue")
}

// A sender that goes away mid-body never had its deposit accepted: nothing of it is stored.
func TestStreamedDepositSenderGoneStoresNothing(t *testing.T) {
	r := newStreamRig(t, az.ConnectionString(), time.Second)
	voicemailtest.Provision(t, r.svc, "4930701", "1234")
	wav := voicemailtest.WAV(audio.PCM16, 30*time.Second)

	c := r.post("4930701", wav, 100<<10)
	time.Sleep(300 * time.Millisecond) // the upload is under way
	require.NoError(t, c.Close())
	r.waitHandled()
	r.nothingStored("4930701")
}

// A deposit the mailbox refuses while its audio is still arriving (full, unknown, too long)
// gets its error and leaves no audio behind.
func TestStreamedDepositRefusedWhileArrivingStoresNothing(t *testing.T) {
	r := newStreamRig(t, az.ConnectionString(), time.Second)
	ctx := context.Background()
	_, _, err := r.svc.Provision(ctx, "4930702", vm.ProvisionRequest{PIN: "1234", MaxMessages: 1})
	require.NoError(t, err)
	first := voicemailtest.Deposit(t, r.svc, "4930702", "+4930", time.Second)
	_, _, err = r.svc.Provision(ctx, "4930703", vm.ProvisionRequest{PIN: "1234", MaxMessageSeconds: 10})
	require.NoError(t, err)
	wav := voicemailtest.WAV(audio.PCM16, 30*time.Second)

	for _, c := range []struct {
		number string
		status int
		code   string
	}{
		{"4930702", http.StatusInsufficientStorage, "mailbox_full"},
		{"4930704", http.StatusNotFound, "not_found"},
		{"4930703", http.StatusRequestEntityTooLarge, "too_long"},
	} {
		t.Run(c.code, func(t *testing.T) {
			conn := r.post(c.number, wav, 64<<10)
			time.Sleep(300 * time.Millisecond) // refused while the body is half in
			_, err := conn.Write(wav[64<<10:])
			require.NoError(t, err)
			status, body := r.response(conn)
			assert.Equal(t, c.status, status)
			assert.Equal(t, c.code, body["error"].(map[string]any)["code"])
			blobs, err := r.b.Blobs.List(ctx, "audio/"+c.number+"/")
			require.NoError(t, err)
			if c.number == "4930702" {
				assert.Equal(t, []string{first.AudioRef}, blobs, "only the earlier message's audio")
			} else {
				assert.Empty(t, blobs)
			}
		})
	}
}

// Blob Storage down while the audio arrives: the deposit is accepted through the queue with
// all of its audio and reaches the mailbox once the store is back.
func TestStreamedDepositBlobOutageTakesQueue(t *testing.T) {
	r := newStreamRig(t, az.ConnectionString(), time.Second)
	voicemailtest.Provision(t, r.svc, "4930705", "1234")
	wav := voicemailtest.WAV(audio.PCM16, 30*time.Second)
	require.NoError(t, az.Stop(azurite.Blob))
	t.Cleanup(func() { _ = az.Restart(context.Background(), azurite.Blob) })

	c := r.post("4930705", wav, 64<<10)
	time.Sleep(300 * time.Millisecond)
	_, err := c.Write(wav[64<<10:])
	require.NoError(t, err)
	status, body := r.response(c)
	require.Equal(t, http.StatusCreated, status, body)

	require.NoError(t, az.Restart(context.Background(), azurite.Blob))
	id := body["id"].(string)
	drainUntil(t, r.svc, "4930705", id)
	got, err := r.svc.Audio(context.Background(), "4930705", id)
	require.NoError(t, err)
	assert.Equal(t, wav, got)
}

// Blob Storage that takes the upload and never answers: StoreTimeout after the last byte the
// deposit goes to the queue instead, and reaches the mailbox once the store answers again.
func TestStreamedDepositHangingBlobTakesQueueAfterLastByte(t *testing.T) {
	proxy := newHangProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(az.Port(azurite.Blob))))
	cs := strings.Replace(az.ConnectionString(), az.Endpoint(azurite.Blob), "http://"+proxy.addr()+"/"+azurite.Account, 1)
	r := newStreamRig(t, cs, 500*time.Millisecond)
	voicemailtest.Provision(t, r.svc, "4930706", "1234")
	wav := voicemailtest.WAV(audio.PCM16, 30*time.Second)

	proxy.hang()
	c := r.post("4930706", wav, 64<<10)
	time.Sleep(time.Second) // a slow sender on top: the timeout counts from the last byte
	_, err := c.Write(wav[64<<10:])
	require.NoError(t, err)
	start := time.Now()
	status, body := r.response(c)
	require.Equal(t, http.StatusCreated, status, body)
	assert.Less(t, time.Since(start), 5*time.Second, "answered after the store timeout, not the SDK's")

	proxy.resume()
	id := body["id"].(string)
	drainUntil(t, r.svc, "4930706", id)
	got, err := r.svc.Audio(context.Background(), "4930706", id)
	require.NoError(t, err)
	assert.Equal(t, wav, got)
}
