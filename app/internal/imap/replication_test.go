package imap

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/crdt"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/embedded"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
	"github.com/voicemail-platform/voicemail/contract"
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
	folder         string // INBOX when empty
	validity, next string
	have           map[string]bool // UIDs held
	resyncs        int
}

func (c *uidSyncer) sync(t *testing.T, addr string) {
	t.Helper()
	rc := dialRaw(t, addr)
	rc.login()
	st := selectState(t, rc, cmp.Or(c.folder, "INBOX"))
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

// peerRegion is a second region beside the one a test serves IMAP from: its own metadata
// store and clock, the same audio store. Rows cross between the two regions only when the
// test replicates them, so a deposit made there at one time reaches here at another, as
// replication lag does.
type peerRegion struct {
	svc, home *voicemail.Service
	clock     *testClock
}

func newPeerRegion(t *testing.T, home *voicemail.Service, name string) *peerRegion {
	t.Helper()
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	shared := *b
	shared.Blobs = home.Backend().Blobs
	p := &peerRegion{home: home, clock: &testClock{t: time.Now()}}
	p.svc, _ = voicemailtest.NewWithOptions(t, voicemail.Options{Backend: &shared, Region: name, Now: p.clock.Now})
	p.replicate(t)
	return p
}

// replicate copies every row each region has that the other lacks.
func (p *peerRegion) replicate(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, dir := range [][2]*voicemail.Service{{p.home, p.svc}, {p.svc, p.home}} {
		rows, err := dir[0].Backend().Meta.Export(ctx, "", 0)
		require.NoError(t, err)
		_, err = dir[1].Backend().Meta.Import(ctx, rows)
		require.NoError(t, err)
	}
}

// depositAt deposits a message there at time at (its clock then reads at); it is not here
// until the test replicates.
func (p *peerRegion) depositAt(t *testing.T, at time.Time) voicemail.Message {
	t.Helper()
	p.clock.set(at)
	return depositAt(t, p.svc, at)
}

// twoRegions is a mailbox served by IMAP in region west, on a clock the test moves (which is
// also west's service clock), and a peer region east.
func twoRegions(t *testing.T, delay time.Duration) (west *voicemail.Service, east *peerRegion, clock *testClock, e *env) {
	t.Helper()
	clock = &testClock{t: time.Now()}
	west, _ = voicemailtest.NewWithOptions(t, voicemail.Options{Region: "west", Now: clock.Now})
	voicemailtest.Provision(t, west, testNumber, testPIN)
	east = newPeerRegion(t, west, "east")
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
	m1 := east.depositAt(t, t0.Add(-time.Second))
	m2 := depositAt(t, west, t0)

	var client uidSyncer
	clock.set(t0.Add(delay / 2))
	client.sync(t, e.addr)
	assert.Empty(t, client.have, "M2 is held back while a message deposited before it may still be replicating")

	east.replicate(t) // M1 arrives
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

// inboxOrder lists INBOX's message ids in UID order, with UIDVALIDITY and UIDNEXT.
func inboxOrder(t *testing.T, addr string) (ids []string, st uidState) {
	t.Helper()
	rc := dialRaw(t, addr)
	rc.login()
	st = selectState(t, rc, "INBOX")
	re := regexp.MustCompile(`Message-ID: <([^@>]+)@`)
	for _, l := range rc.cmd("f", "FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])") {
		if m := re.FindStringSubmatch(l); m != nil {
			ids = append(ids, m[1])
		}
	}
	return ids, st
}

// A message that arrives later than the visibility delay (a partition between regions)
// would land beneath a UID already shown. The view that notices places it above UIDNEXT in
// the replicated state: it shows once the delay has passed since, with a UID above every UID
// shown, so a client syncing the UIDs above the last UIDNEXT it saw gets it, UIDVALIDITY
// stays, and every server (a restarted one, another region's) derives the same UIDs. What
// was shown is itself replicated, so a server that never showed the later message (a
// restarted process, another stamp) notices too.
func TestMessageReplicatedAfterTheDelayIsPlacedAboveUIDNext(t *testing.T) {
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
			m1 := east.depositAt(t, t0.Add(-time.Second)) // M1: deposited first, partitioned
			m2 := depositAt(t, west, t0)
			clock.set(t0.Add(delay + time.Second))

			var client uidSyncer
			client.sync(t, e.addr)
			require.Len(t, client.have, 1, "M2 shows once the delay has passed")
			before := client.validity
			snap, err := west.Snapshot(ctx, testNumber)
			require.NoError(t, err)
			require.Len(t, snap.Shown, 1, "what INBOX showed is recorded before the answer")
			idle := dialRaw(t, e.addr)
			idle.login()
			idle.cmd("s", "SELECT INBOX")

			east.replicate(t) // the partition heals: M1 arrives beneath M2
			second := tc.second(t, e, west, clock)
			client.sync(t, second.addr)
			assert.Len(t, client.have, 1, "M1 is placed above UIDNEXT and held back as a new deposit is")
			clock.set(t0.Add(2*delay + 2*time.Second))
			client.sync(t, second.addr)
			assert.Len(t, client.have, 2, "the client syncing UIDs above the last UIDNEXT gets M1")
			assert.Zero(t, client.resyncs, "UIDVALIDITY stays")
			assert.Equal(t, before, client.validity)
			assert.Equal(t, []string{"* 2 EXISTS", "n OK NOOP completed"}, idle.cmd("n", "NOOP"),
				"the session selected before is told of M1 as of a new message")
			// The line the stamp's imap-late-arrivals alert reads (contract names it).
			logs := strings.Split(e.logs.String(), "\n")
			if second != e {
				logs = append(logs, strings.Split(second.logs.String(), "\n")...)
			}
			assert.Len(t, lateArrivals(t, logs, contract.IMAPLateArrivalPlaced), 1, "one placement logged")
			assert.Equal(t, m1.ID, lateArrivals(t, logs, contract.IMAPLateArrivalPlaced)[0]["id"])

			// Derived from replicated state: a restarted server and another region's agree.
			east.replicate(t)
			east.clock.set(clock.Now())
			order, st := inboxOrder(t, e.addr)
			assert.Equal(t, []string{m2.ID, m1.ID}, order, "M1 above M2")
			restarted := startEnvWith(t, west, Config{VisibilityDelay: delay, Now: clock.Now})
			other := startEnvWith(t, east.svc, Config{VisibilityDelay: delay, Now: east.clock.Now})
			for _, addr := range []string{restarted.addr, other.addr} {
				o, s := inboxOrder(t, addr)
				assert.Equal(t, order, o)
				assert.Equal(t, st, s)
			}

			// Later deposits in order change nothing more.
			depositAt(t, west, t0.Add(2*delay+3*time.Second))
			clock.set(t0.Add(3*delay + 4*time.Second))
			client.sync(t, e.addr)
			assert.Len(t, client.have, 3)
			assert.Zero(t, client.resyncs)
		})
	}
}

// A late message that no record can name (older than every record's tail of the last ids
// shown) cannot be placed; UIDVALIDITY is raised in the replicated state instead, so every
// region moves clients to a full resync together, and selected sessions end.
func TestUnnamedLateMessageRaisesUIDValidity(t *testing.T) {
	t.Parallel()
	const delay = 10 * time.Second
	west, east, clock, e := twoRegions(t, delay)
	t0 := clock.Now()
	east.depositAt(t, t0.Add(-time.Minute))
	for i := range tailLen + 1 {
		depositAt(t, west, t0.Add(time.Duration(i)*time.Millisecond))
	}
	clock.set(t0.Add(delay + time.Second))
	var client uidSyncer
	client.sync(t, e.addr)
	require.Len(t, client.have, tailLen+1)
	before := client.validity
	idle := dialRaw(t, e.addr)
	idle.login()
	idle.cmd("s", "SELECT INBOX")

	east.replicate(t)
	client.sync(t, e.addr)
	assert.Len(t, client.have, tailLen+2, "the client gets the late message")
	assert.Equal(t, 1, client.resyncs, "through a UIDVALIDITY change")
	assert.Greater(t, client.validity, before)
	assert.Equal(t, []string{"* BYE UIDVALIDITY changed, select the mailbox again", "n OK NOOP completed"},
		idle.cmd("n", "NOOP"), "the session selected before learns it must resync")
	assert.Len(t, lateArrivals(t, strings.Split(e.logs.String(), "\n"), contract.IMAPLateArrivalUIDValidityRaised), 1)
	east.replicate(t)
	other := startEnvWith(t, east.svc, Config{VisibilityDelay: delay, Now: clock.Now})
	_, st := inboxOrder(t, other.addr)
	assert.Equal(t, client.validity, st.validity, "another region derives the same UIDVALIDITY")
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
// a late arrival like any other, placed above UIDNEXT, not silently beneath UIDs already shown.
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

	east.clock.set(t0.Add(-time.Second))
	_, err = east.svc.Deposit(ctx, testNumber, voicemail.Deposit{ID: id1, Caller: "+15551110002", Audio: voicemailtest.WAV(audio.ALaw, time.Second)})
	require.NoError(t, err)
	east.replicate(t)
	client.sync(t, e.addr)
	clock.set(t0.Add(2*delay + 2*time.Second))
	client.sync(t, e.addr)
	assert.Len(t, client.have, 2, "the client gets the message whose flags came first")
	assert.Zero(t, client.resyncs)
}

// lateKeys names what arrived beneath a record: within its tail by tag, below the tail when
// the tail is everything the record showed, and nothing it can name when more keys are below
// its tail than it counted there.
func TestLateKeys(t *testing.T) {
	t0 := time.UnixMilli(1_763_798_400_000)
	var ids []string
	for i := range 40 {
		ids = append(ids, voicemail.NewMessageID("west", t0.Add(time.Duration(i)*time.Second)))
	}
	without := func(h []string, drop ...int) []string {
		out := slices.Clone(h)
		for _, i := range slices.Backward(drop) {
			out = slices.Delete(out, i, i+1)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		shown   []string // what the record showed
		now     []string // the history now
		late    []string
		unnamed bool
	}{
		{"nothing new", ids[:5], ids[:5], nil, false},
		{"new keys above the record are not late", ids[:5], ids[:8], nil, false},
		{"beneath, within a short record", without(ids[:5], 2), ids[:6], []string{ids[2]}, false},
		{"before the first shown", without(ids[:5], 0), ids[:5], []string{ids[0]}, false},
		{"within the tail", without(ids[:30], 25, 27), ids[:30], []string{ids[25], ids[27]}, false},
		{"below the tail", without(ids[:30], 3), ids[:30], nil, true},
		{"another validity", without(ids[:5], 2), ids[:5], nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			validity := uint32(7)
			r := shownRecord(validity, tc.shown)
			if tc.name == "another validity" {
				r.Validity = 6
			}
			late, unnamed := lateKeys(r, validity, tc.now)
			assert.Equal(t, tc.late, late)
			assert.Equal(t, tc.unnamed, unnamed)
		})
	}
	// A record from before tails names nothing; it only counts.
	late, unnamed := lateKeys(voicemail.Shown{Validity: 7, Last: ids[4], Count: 4}, 7, ids[:5])
	assert.Empty(t, late)
	assert.True(t, unnamed)
	// A placed message moves above the record: no longer late.
	placed := voicemail.OrderKey(ids[2], t0.Add(time.Hour))
	history := append(without(ids[:5], 2), placed)
	late, unnamed = lateKeys(shownRecord(7, without(ids[:5], 2)), 7, history)
	assert.Empty(t, late)
	assert.False(t, unnamed)
	uids, next := historyUIDs(t0, history)
	assert.Greater(t, uids[ids[2]], uids[ids[4]], "the placed message's UID is above the others")
	assert.Equal(t, uids[ids[2]]+1, next)
}

// A message stored more than voicemail.LateStore after its id's time (a caller-chosen older
// id; the deposit queue after a store outage) is ordered at its store time: it shows the delay
// after that, above what was shown meanwhile, with no late arrival to repair.
func TestLateStoredMessageIsOrderedAtItsStoreTime(t *testing.T) {
	t.Parallel()
	const delay = 10 * time.Second
	clock := &testClock{t: time.Now()}
	svc, _ := voicemailtest.NewWithOptions(t, voicemail.Options{Region: "west", Now: clock.Now})
	voicemailtest.Provision(t, svc, testNumber, testPIN)
	e := startEnvWith(t, svc, Config{VisibilityDelay: delay, Now: clock.Now})
	t0 := clock.Now()
	shown := depositAt(t, svc, t0)
	clock.set(t0.Add(delay + time.Second))
	var client uidSyncer
	client.sync(t, e.addr)
	require.Len(t, client.have, 1)

	old := depositAt(t, svc, t0.Add(-time.Minute)) // stored now, under an id a minute old
	client.sync(t, e.addr)
	assert.Len(t, client.have, 1, "held back the delay from its store time")
	clock.set(t0.Add(2*delay + 2*time.Second))
	client.sync(t, e.addr)
	assert.Len(t, client.have, 2)
	assert.Zero(t, client.resyncs)
	order, _ := inboxOrder(t, e.addr)
	assert.Equal(t, []string{shown.ID, old.ID}, order)
	assert.Zero(t, testutil.ToFloat64(e.srv.metrics.late.WithLabelValues(contract.IMAPLateArrivalPlaced)), "nothing to repair")
	assert.Empty(t, lateArrivals(t, strings.Split(e.logs.String(), "\n"), contract.IMAPLateArrivalPlaced))
}

// What INBOX shows is recorded before the answer, so a process that dies right after
// answering leaves a record that lets any other notice a message arriving beneath it.
func TestWhatIsShownIsRecordedBeforeTheAnswer(t *testing.T) {
	t.Parallel()
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, testNumber, testPIN)
	voicemailtest.Deposit(t, svc, testNumber, "+15551110001", time.Second)
	// RecordShown takes a while, as a store across a WAN does.
	slow := hookRecorder{svc, func() { time.Sleep(300 * time.Millisecond) }}
	srv := New(slow, Config{}, slog.New(slog.NewJSONHandler(testWriter{t}, nil)))
	e := serveEnv(t, svc, srv)
	rc := dialRaw(t, e.addr)
	rc.login()
	rc.cmd("s", "SELECT INBOX")
	snap, err := svc.Snapshot(context.Background(), testNumber)
	require.NoError(t, err)
	require.Len(t, snap.Shown, 1)
	assert.Equal(t, 1, snap.Shown[0].Count)
}

// lateArrivals returns the attributes of the late-arrival lines with outcome among JSON log lines.
func lateArrivals(t *testing.T, lines []string, outcome string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range lines {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		if m["msg"] == contract.IMAPLateArrivalLogMessage && m["outcome"] == outcome {
			out = append(out, m)
		}
	}
	return out
}

// Greetings are held back by the visibility delay too: east records its busy greeting just
// before west records the unavailable one, and the busy one reaches west after; a client
// syncing the UIDs above the last UIDNEXT it saw gets both, with no resync. A session shows
// at once the kind it APPENDed itself (an OMTP client flags the greeting it just appended);
// other sessions see it after the delay.
func TestGreetingReplicatedWithinTheDelayIsSyncedInOrder(t *testing.T) {
	t.Parallel()
	const delay = 10 * time.Second
	west, east, clock, e := twoRegions(t, delay)
	ctx := context.Background()
	t0 := clock.Now()
	wav := voicemailtest.WAV(audio.PCM16, time.Second)
	east.clock.set(t0.Add(-time.Second))
	require.NoError(t, east.svc.PutGreeting(ctx, testNumber, voicemail.GreetingBusy, wav))
	require.NoError(t, west.PutGreeting(ctx, testNumber, voicemail.GreetingUnavailable, wav))

	client := uidSyncer{folder: "Greetings"}
	clock.set(t0.Add(delay / 2))
	client.sync(t, e.addr)
	assert.Empty(t, client.have, "held back while another region's earlier write may still be replicating")

	east.replicate(t)
	clock.set(t0.Add(delay + time.Second))
	client.sync(t, e.addr)
	assert.Len(t, client.have, 2, "the client syncing UIDs above the last UIDNEXT has both greetings")
	assert.Zero(t, client.resyncs)

	// APPEND: the appending session sees its greeting at once, another session after the delay.
	appender := dialRaw(t, e.addr)
	appender.login()
	appender.cmd("s", "SELECT Greetings")
	msg := "X-CNS-Greeting-Type: voice-signature\r\nContent-Type: audio/wav\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(wav)
	appender.send(fmt.Sprintf("a APPEND Greetings {%d}\r\n", len(msg)))
	appender.until("+")
	appender.send(msg + "\r\n")
	appender.until("a OK")
	assert.Contains(t, strings.Join(appender.cmd("f", "FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (X-CNS-GREETING-TYPE)])"), "\n"),
		"voice-signature", "the appending session shows its greeting")
	other := dialRaw(t, e.addr)
	other.login()
	assert.Equal(t, `* STATUS "Greetings" (MESSAGES 2)`, other.cmd("st", "STATUS Greetings (MESSAGES)")[0],
		"another session does not show it yet")
	clock.set(clock.Now().Add(delay + time.Second))
	assert.Equal(t, `* STATUS "Greetings" (MESSAGES 3)`, other.cmd("st", "STATUS Greetings (MESSAGES)")[0])
	client.sync(t, e.addr)
	assert.Len(t, client.have, 3)
	assert.Zero(t, client.resyncs)
}

// hookRecorder runs before ahead of each RecordShown, to stage races between processes.
type hookRecorder struct {
	*voicemail.Service
	before func()
}

func (h hookRecorder) RecordShown(ctx context.Context, number string, sh voicemail.Shown, seen []voicemail.Shown) error {
	h.before()
	return h.Service.RecordShown(ctx, number, sh, seen)
}

// Two processes of one stamp record what they showed at the same moment: P1 showed M2 only,
// P2 read later and would show M1 (arrived from another region beneath M2) and M3. P2's record
// would replace P1's and hide that P1's client never saw M1, so P2 reads again instead, finds
// M1 late by P1's record, and places it above UIDNEXT.
func TestProcessesOfAStampRecordingAtOnceMissNothing(t *testing.T) {
	t.Parallel()
	const delay = 10 * time.Second
	west, east, clock, _ := twoRegions(t, delay)
	ctx := context.Background()
	t0 := clock.Now()
	m1 := east.depositAt(t, t0.Add(-time.Second))
	m2 := depositAt(t, west, t0)
	clock.set(t0.Add(delay + time.Second))

	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	log := slog.New(slog.NewJSONHandler(testWriter{t}, nil))
	p1 := serveEnv(t, west, New(hookRecorder{west, func() {
		once.Do(func() { close(reached); <-release })
	}}, Config{VisibilityDelay: delay, Now: clock.Now}, log))
	p2 := serveEnv(t, west, New(hookRecorder{west, func() {
		select {
		case <-release:
			return
		default:
		}
		close(release)
		require.Eventually(t, func() bool {
			snap, err := west.Snapshot(ctx, testNumber)
			return err == nil && len(snap.Shown) == 1 && snap.Shown[0].Last == m2.ID
		}, 10*time.Second, 5*time.Millisecond, "P1's record stored")
	}}, Config{VisibilityDelay: delay, Now: clock.Now}, log))

	first := make(chan string, 1)
	go func() {
		rc := dialRaw(t, p1.addr)
		rc.login()
		first <- strings.Join(rc.cmd("s", "SELECT INBOX"), "\n")
	}()
	<-reached // P1 has read the mailbox and is recording what it shows
	east.replicate(t)
	t1 := clock.Now()
	m3 := depositAt(t, west, t1)
	clock.set(t1.Add(delay + time.Second))
	rc := dialRaw(t, p2.addr)
	rc.login()
	second := strings.Join(rc.cmd("s", "SELECT INBOX"), "\n")
	assert.Contains(t, <-first, "* 1 EXISTS", "P1 showed M2")
	assert.Contains(t, second, "* 2 EXISTS", "P2 shows M2 and M3; M1 is placed above them")

	clock.set(clock.Now().Add(delay + time.Second))
	order, _ := inboxOrder(t, p2.addr)
	assert.Equal(t, []string{m2.ID, m3.ID, m1.ID}, order)
}
