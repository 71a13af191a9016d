package imap

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/crdt"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// testClock is a wall clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// uidSyncer syncs INBOX as mbsync and offlineimap do: it keeps UIDVALIDITY and UIDNEXT and
// next time fetches only the UIDs at or above that UIDNEXT, unless UIDVALIDITY changed, when
// it starts over.
type uidSyncer struct {
	validity, next string
	have           map[string]bool // UIDs held
	resyncs        int
}

func (c *uidSyncer) sync(t *testing.T, addr string) {
	t.Helper()
	rc := dialRaw(t, addr)
	rc.login()
	st := selectState(t, rc, "INBOX")
	if c.have == nil || st.validity != c.validity {
		if c.have != nil {
			c.resyncs++
		}
		c.have = map[string]bool{}
		for _, u := range strings.Fields(strings.TrimPrefix(st.uids, "* SEARCH")) {
			c.have[u] = true
		}
	} else {
		from, err := strconv.Atoi(c.next)
		require.NoError(t, err)
		// n:* includes the greatest UID even below n (RFC 3501 6.4.8), so clients filter.
		for _, u := range strings.Fields(strings.TrimPrefix(rc.cmd("n", "UID SEARCH UID "+c.next+":*")[0], "* SEARCH")) {
			if n, _ := strconv.Atoi(u); n >= from {
				c.have[u] = true
			}
		}
	}
	c.validity, c.next = st.validity, st.next
}

// depositAt deposits a message whose id carries deposit time at, as the region svc serves.
func depositAt(t *testing.T, svc *voicemail.Service, at time.Time) voicemail.Message {
	t.Helper()
	m, err := svc.Deposit(context.Background(), testNumber, voicemail.Deposit{
		ID:     voicemail.NewMessageID(svc.Region(), at),
		Caller: "+15551110001", Audio: voicemailtest.WAV(audio.ALaw, time.Second),
	})
	require.NoError(t, err)
	return m
}

// twoRegions is a mailbox served by IMAP in region west, and a service of region east on
// the same store: what east deposits is "replicated" the moment the test lets it deposit.
func twoRegions(t *testing.T, delay time.Duration) (west, east *voicemail.Service, clock *testClock, e *env) {
	t.Helper()
	west, _ = voicemailtest.NewWithOptions(t, voicemail.Options{Region: "west"})
	east, _ = voicemailtest.NewWithOptions(t, voicemail.Options{Backend: west.Backend(), Region: "east"})
	voicemailtest.Provision(t, west, testNumber, testPIN)
	clock = &testClock{t: time.Now()}
	e = startEnvWith(t, west, Config{VisibilityDelay: delay, Now: clock.Now})
	return west, east, clock, e
}

// RFC 3501 2.3.1.1: UIDs ascend as messages are added. East deposits M1 just before west
// deposits M2, and M1 reaches west after M2 (replication lag within the visibility delay).
// INBOX holds M2 back until it is the delay old, so M1 is there before M2 shows, and a
// client that syncs only the UIDs above the last UIDNEXT it saw gets both, with no resync.
func TestMessageReplicatedWithinTheDelayIsSyncedInOrder(t *testing.T) {
	t.Parallel()
	const delay = 10 * time.Second
	west, east, clock, e := twoRegions(t, delay)
	t0 := clock.Now()
	m2 := depositAt(t, west, t0)

	var client uidSyncer
	clock.set(t0.Add(delay / 2))
	client.sync(t, e.addr)
	assert.Empty(t, client.have, "M2 is held back while a message deposited before it may still be replicating")

	m1 := depositAt(t, east, t0.Add(-time.Second)) // arrives by replication now
	clock.set(t0.Add(delay + time.Second))
	client.sync(t, e.addr)
	assert.Len(t, client.have, 2, "the client syncing UIDs above the last UIDNEXT has M1 and M2")
	assert.Zero(t, client.resyncs, "normal operation keeps UIDVALIDITY")

	rc := dialRaw(t, e.addr)
	rc.login()
	rc.cmd("s", "EXAMINE INBOX")
	fetch := strings.Join(rc.cmd("f", "FETCH 1:2 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"), "\n")
	assert.Less(t, strings.Index(fetch, m1.ID), strings.Index(fetch, m2.ID), "M1 has the lower UID")
}

// A message that arrives later than the visibility delay (a partition between regions)
// lands beneath a UID already shown. The view that notices raises UIDVALIDITY in the
// replicated state: the client resyncs and gets the message, the session selected before
// ends, and every server (a restarted one, another region's) derives the same UIDVALIDITY.
// What was shown is itself replicated, so a server that never showed the later message (a
// restarted process, another stamp) notices too.
func TestMessageReplicatedAfterTheDelayRaisesUIDValidity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		second func(t *testing.T, first *env, west *voicemail.Service, clock *testClock) *env
	}{
		{"noticed by the server that showed it", func(t *testing.T, first *env, _ *voicemail.Service, _ *testClock) *env {
			return first
		}},
		{"noticed by another process", func(t *testing.T, _ *env, west *voicemail.Service, clock *testClock) *env {
			return startEnvWith(t, west, Config{VisibilityDelay: 10 * time.Second, Now: clock.Now})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const delay = 10 * time.Second
			west, east, clock, e := twoRegions(t, delay)
			ctx := context.Background()
			t0 := clock.Now()
			depositAt(t, west, t0)
			clock.set(t0.Add(delay + time.Second))

			var client uidSyncer
			client.sync(t, e.addr)
			require.Len(t, client.have, 1, "M2 shows once the delay has passed")
			before := client.validity
			require.Eventually(t, func() bool {
				snap, err := west.Snapshot(ctx, testNumber)
				return err == nil && len(snap.Shown) == 1
			}, 10*time.Second, 10*time.Millisecond, "what INBOX showed is recorded")
			idle := dialRaw(t, e.addr)
			idle.login()
			idle.cmd("s", "SELECT INBOX")

			depositAt(t, east, t0.Add(-time.Second)) // M1, deposited before M2, arrives only now
			client.sync(t, tc.second(t, e, west, clock).addr)
			assert.Len(t, client.have, 2, "the client gets M1")
			assert.Equal(t, 1, client.resyncs, "through a UIDVALIDITY change")
			assert.Greater(t, client.validity, before)
			assert.Equal(t, []string{"* BYE UIDVALIDITY changed, select the mailbox again", "n OK NOOP completed"},
				idle.cmd("n", "NOOP"), "the session selected before learns it must resync")

			// Derived from replicated state: a restarted server and another region's agree.
			restarted := startEnvWith(t, west, Config{VisibilityDelay: delay, Now: clock.Now})
			other := startEnvWith(t, east, Config{VisibilityDelay: delay, Now: clock.Now})
			for _, addr := range []string{restarted.addr, other.addr} {
				rc := dialRaw(t, addr)
				rc.login()
				assert.Equal(t, `* STATUS "INBOX" (UIDVALIDITY `+client.validity+` MESSAGES 2)`,
					rc.cmd("st", "STATUS INBOX (UIDVALIDITY MESSAGES)")[0])
			}

			// Later deposits in order change nothing more.
			depositAt(t, east, t0.Add(delay+2*time.Second))
			clock.set(t0.Add(2*delay + 3*time.Second))
			client.sync(t, e.addr)
			assert.Len(t, client.have, 3)
			assert.Equal(t, 1, client.resyncs)
		})
	}
}

// IDLE announces a message held back by the visibility delay when it shows, without the
// client asking again.
func TestIdleAnnouncesAMessageWhenItShows(t *testing.T) {
	t.Parallel()
	const delay = 1500 * time.Millisecond
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, testNumber, testPIN)
	e := startEnvWith(t, svc, Config{VisibilityDelay: delay})
	m := voicemailtest.Deposit(t, svc, testNumber, "+15551110001", time.Second)
	rc := dialRaw(t, e.addr)
	rc.login()
	sel := strings.Join(rc.cmd("s", "SELECT INBOX"), "\n")
	if time.Since(mustIDTime(t, m.ID)) < delay {
		assert.Contains(t, sel, "* 0 EXISTS", "held back at first")
	}
	rc.send("i IDLE\r\n")
	assert.Equal(t, "+ idling", rc.line())
	rc.until("* 1 EXISTS") // fails on the connection's deadline if it never comes
	rc.send("DONE\r\n")
	assert.Equal(t, "i OK IDLE terminated", rc.line())
}

func TestVisiblePrefix(t *testing.T) {
	t0 := time.UnixMilli(1_763_798_400_000)
	id := func(d time.Duration) string { return voicemail.NewMessageID("west", t0.Add(d)) }
	h := []string{id(0), id(time.Second), id(2 * time.Second), id(2 * time.Second)}
	for _, tc := range []struct {
		name    string
		now     time.Duration
		delay   time.Duration
		n       int
		pending time.Duration // -1: none
	}{
		{"no delay", 0, 0, 4, -1},
		{"none yet", 5 * time.Second, 10 * time.Second, 0, 10 * time.Second},
		{"first two", 11500 * time.Millisecond, 10 * time.Second, 2, 12 * time.Second},
		{"to the millisecond", 12 * time.Second, 10 * time.Second, 4, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, pending := visiblePrefix(h, t0.Add(tc.now), tc.delay)
			assert.Equal(t, h[:tc.n], got)
			if tc.pending < 0 {
				assert.True(t, pending.IsZero())
			} else {
				assert.True(t, t0.Add(tc.pending).Equal(pending), "pending %s", pending)
			}
		})
	}
}

// Another region's row that only changed a message's flags can reach a stamp before the row
// of its deposit. The message takes no UID until its deposit is known, so when it comes it is
// a late arrival like any other, not a message silently placed beneath UIDs already shown.
func TestFlagsArrivingBeforeTheirMessageDoNotHideIt(t *testing.T) {
	t.Parallel()
	const delay = 10 * time.Second
	west, east, clock, e := twoRegions(t, delay)
	ctx := context.Background()
	t0 := clock.Now()
	id1 := voicemail.NewMessageID("east", t0.Add(-time.Second))
	flags, err := json.Marshal(crdt.Message{Heard: crdt.Register[bool]{V: true, TS: crdt.Timestamp{Wall: t0.UnixMilli(), Node: "central"}}})
	require.NoError(t, err)
	_, err = west.Backend().Meta.Insert(ctx, testNumber, store.RowKey("m:"+id1, "central"), flags)
	require.NoError(t, err)
	depositAt(t, west, t0)
	clock.set(t0.Add(delay + time.Second))
	var client uidSyncer
	client.sync(t, e.addr)
	require.Len(t, client.have, 1)

	_, err = east.Deposit(ctx, testNumber, voicemail.Deposit{ID: id1, Caller: "+15551110002", Audio: voicemailtest.WAV(audio.ALaw, time.Second)})
	require.NoError(t, err)
	client.sync(t, e.addr)
	assert.Len(t, client.have, 2, "the client gets the message whose flags came first")
}
