package azure_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
)

// recorder is an SDK transport that notes "<service> <method>" for every request it sends.
type recorder struct {
	mu    sync.Mutex
	ports map[string]azurite.Service
	reqs  []string
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, fmt.Sprintf("%s %s", r.ports[req.URL.Port()], req.Method))
	r.mu.Unlock()
	return http.DefaultClient.Do(req)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	slices.Sort(out)
	return out
}

// A deposit's cost on the store is its requests: the audio upload, one mailbox read, the
// admission row's read and conditional write (what keeps maxMessages exact across a region's
// processes), one row insert and, after it, one notification. Anything more on this path shows
// up here first.
func TestDepositRequests(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{ports: map[string]azurite.Service{}}
	for _, s := range []azurite.Service{azurite.Blob, azurite.Queue, azurite.Table} {
		rec.ports[fmt.Sprint(az.Port(s))] = s
	}
	cfg := config(az.ConnectionString())
	cfg.Transport = rec
	b, err := azure.Open(ctx, cfg)
	require.NoError(t, err)
	svc, err := vm.New(vm.Options{AllowGuessablePINs: true, Backend: b, Region: "west"})
	require.NoError(t, err)
	voicemailtest.Provision(t, svc, "4930600", "1234")
	for range 3 {
		voicemailtest.Deposit(t, svc, "4930600", "+4917", time.Second)
	}
	var before []string
	require.Eventually(t, func() bool {
		before = append(before, rec.take()...)
		n := 0
		for _, r := range before {
			if r == "queue POST" {
				n++
			}
		}
		return n == 3
	}, 5*time.Second, 50*time.Millisecond, "the earlier deposits' notifications are sent")

	_, err = svc.Deposit(ctx, "4930600", vm.Deposit{Caller: "+4917", Audio: voicemailtest.WAV(audio.PCM16, 30*time.Second)})
	require.NoError(t, err)
	want := []string{"blob PUT", "queue POST", "table GET", "table GET", "table POST", "table PUT"}
	var got []string
	assert.Eventually(t, func() bool {
		got = append(got, rec.take()...)
		slices.Sort(got)
		return len(got) >= len(want)
	}, 5*time.Second, 50*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // nothing else follows
	got = append(got, rec.take()...)
	slices.Sort(got)
	assert.Equal(t, want, got, "upload, mailbox read, admission read and write, row insert, notification")
}
