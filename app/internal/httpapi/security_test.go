package httpapi_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// The TestAttack tests reproduce attacks from a hostile network, bounded in count and time and
// on loopback only. Each logs the figure it measures.

// clientFrom is an HTTP client whose connections come from the loopback address ip, so a test
// can play several sources.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 400}}
}

func getMessages(t *testing.T, hc *http.Client, url, number, pin string) int {
	req, err := http.NewRequest("GET", url+"/v1/mailboxes/"+number+"/messages", nil)
	require.NoError(t, err)
	req.SetBasicAuth(number, pin)
	resp, err := hc.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// 300 parallel guesses at one mailbox from one address, the right PIN sent last: the guesses
// must be evaluated one at a time, so the source is slowed after a few and the last one fails.
func TestAttackPINRaceParallelGuesses(t *testing.T) {
	c := setup(t, vm.Options{})
	voicemailtest.Provision(t, c.svc, "4930111", "8264")
	hc := clientFrom("127.0.0.1")
	const guesses = 300
	var evaluated, refused atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < guesses-1; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch getMessages(t, hc, c.url, "4930111", "0000") {
			case 401:
				evaluated.Add(1)
			case 429:
				refused.Add(1)
			}
		}()
	}
	// The right PIN goes once the run is under way: when a guess has been refused unevaluated,
	// the source is being slowed. (A fixed pause let it overtake the guesses on a loaded
	// machine, where 299 goroutines take a while to send.)
	require.Eventually(t, func() bool { return refused.Load() > 0 }, 20*time.Second, time.Millisecond,
		"no guess refused: %d evaluated", evaluated.Load())
	last := getMessages(t, hc, c.url, "4930111", "8264")
	wg.Wait()
	t.Logf("%d of %d wrong guesses evaluated, %d refused unevaluated; the right PIN sent last got %d", evaluated.Load(), guesses-1, refused.Load(), last)
	assert.LessOrEqual(t, evaluated.Load(), int64(4), "guesses evaluated before the source was slowed")
	assert.NotEqual(t, 200, last, "the right PIN at the end of a parallel guessing run got in")
}

// An attacker repeating wrong PINs must not lock the owner out: the owner, from another
// address, gets in over HTTP, and the phone and IMAP paths of the service let it in too.
func TestAttackAnyoneCanLockAMailbox(t *testing.T) {
	c := setup(t, vm.Options{})
	voicemailtest.Provision(t, c.svc, "4930111", "8264")
	attacker := clientFrom("127.0.0.3")
	codes := map[int]int{}
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; i < 50 && time.Now().Before(deadline); i++ {
		codes[getMessages(t, attacker, c.url, "4930111", "0000")]++
	}
	owner := getMessages(t, clientFrom("127.0.0.2"), c.url, "4930111", "8264")
	t.Logf("attacker answers %v; then the owner from another address got %d", codes, owner)
	assert.Equal(t, 200, owner, "the owner is locked out by a stranger's wrong PINs")
	for _, src := range []string{"sip:4930111", "ip:127.0.0.4"} {
		assert.NoError(t, c.svc.Login(vm.WithSource(context.Background(), src), "4930111", "8264"), src)
	}
}

// Login answers must not tell known numbers from unknown ones, by code or by time.
//
// A measurement is pairs of wrong-PIN logins, one for a known number and one for an unknown
// one back to back, so a burst of load on the shared machine slows both arms alike; the
// medians of the two arms are compared. Each login comes from its own address (no source
// reaches its penalty) and each measurement uses its own known mailbox, which gets fewer
// wrong PINs than put a mailbox in the slow lane. A leak (an unknown number answered without
// the PIN work and the failure delay) shows in every measurement; a load spike in one, so a
// measurement that shows a difference is repeated, up to three times.
func TestAttackEnumerateMailboxesByLoginTiming(t *testing.T) {
	c := setup(t, vm.Options{})
	const attempts, pairs = 3, 9 // pairs stays below the policy's MailboxFailures (10)
	timed := func(hc *http.Client, number string) (time.Duration, int) {
		if resp, err := hc.Get(c.url + "/v1/mailboxes/" + number + "/messages"); err == nil { // warm the connection
			resp.Body.Close()
		}
		start := time.Now()
		code := getMessages(t, hc, c.url, number, "0000")
		return time.Since(start), code
	}
	median := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	var ratio float64
	for a := range attempts {
		known := fmt.Sprintf("49301%02d", 11+a)
		voicemailtest.Provision(t, c.svc, known, "8264")
		unknown := fmt.Sprintf("49309%02d", 91+a)
		var kd, ud []time.Duration
		kc, uc := map[int]int{}, map[int]int{}
		for i := range pairs {
			d, code := timed(clientFrom(fmt.Sprintf("127.0.%d.%d", 1+2*a, 10+i)), known)
			kd, kc[code] = append(kd, d), kc[code]+1
			d, code = timed(clientFrom(fmt.Sprintf("127.0.%d.%d", 2+2*a, 10+i)), unknown)
			ud, uc[code] = append(ud, d), uc[code]+1
		}
		require.Equal(t, kc, uc, "answers differ")
		k, u := median(kd), median(ud)
		ratio = float64(max(k, u)) / float64(min(k, u))
		t.Logf("measurement %d: wrong PIN for a known number: median %s %v; for an unknown one: %s %v", a+1, k, kc, u, uc)
		if ratio < 1.3 {
			break
		}
	}
	assert.Less(t, ratio, 1.3, "timing tells known numbers from unknown ones in %d measurements", attempts)
}
