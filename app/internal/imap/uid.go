package imap

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// UIDs are derived, never stored, from state every region agrees on, so every stamp and every
// session computes the same ones and they survive restarts:
//
//   - UIDVALIDITY of both folders is the mailbox's creation time in Unix seconds. A mailbox
//     that is removed and provisioned again gets a later creation time, hence a greater
//     UIDVALIDITY, which is exactly what RFC 3501 asks of a mailbox whose UIDs no longer persist.
//     INBOX's is the greater of that and the mailbox's replicated UIDValidity register (below).
//   - INBOX: a message's UID counts 100 ms ticks from one hour before the mailbox's creation
//     (the hour absorbs clock skew between regions) to the deposit time its id carries. UIDs
//     are assigned over the mailbox's whole history (deleted messages included) in id order,
//     and a message whose tick is not above its predecessor's UID gets predecessor+1, so UIDs
//     are strictly ascending and deleting a message never renumbers another. 2^32 ticks last
//     13.6 years per mailbox. UIDNEXT is one above the last UID of the history, so it moves
//     only when a message is deposited, never with the clock.
//   - Greetings: a greeting is the last write of its kind's register (a re-recording is a new
//     message). Its UID is 4 × the seconds from one hour before the mailbox's creation to that
//     write, plus the kind's index, so kinds written in the same second differ. UIDNEXT is one
//     above the UID of the latest write of any kind, deletions included.
//
// RFC 3501 2.3.1.1 (RFC 9051 likewise) wants UIDs to ascend as messages are added: clients
// sync by fetching the UIDs above the last one they saw. Ids order messages by deposit time,
// but regions deposit concurrently and replicate with a lag, so a message can reach a stamp
// after a later one. Two rules keep the promise:
//
//   - Visibility delay (Config.VisibilityDelay, the stamp's VOICEMAIL_IMAP_VISIBILITY_DELAY):
//     INBOX shows only the messages whose deposit time is at least the delay old, a prefix of
//     the history in id order, and UIDNEXT is derived from that prefix. A message from another
//     region is present once replication lag plus clock skew has passed, so as long as the
//     delay exceeds that, every message is present before any later one is shown, and the
//     UIDs shown only ever grow at the end. (Deposit notifications wait as long, so a client
//     syncing on one finds the message; HTTP, the phone menu and MWI counts show it at once.)
//   - Resync when that fails: a message that arrives later than the delay (a partition, a
//     deposit stored from the queue after a store outage, an HTTP deposit with a caller-chosen
//     older id) lands beneath UIDs already shown, and may even push a later message of the
//     same 100 ms tick up by one. What INBOX showed is recorded as the last id shown and how
//     many ids of the history were up to it: in this process's memory (shownTracker) and, in
//     the background, in the replicated mailbox state (voicemail.Service.RecordShown, one
//     record per stamp, written once per new last id). A load that counts more ids up to a
//     record's last id than it holds raises the mailbox's replicated UIDValidity register past
//     the value in use (voicemail.Service.RaiseUIDValidity, merged by max) before it shows
//     anything. Every stamp of every region then derives the same greater UIDVALIDITY,
//     selected sessions end with BYE, and clients resync fully, as RFC 3501 allows when UIDs
//     cannot persist.
//
// What detection cannot see: a process that shows a message and dies before its record is
// stored (a few milliseconds after the response), or whose record cannot be stored (the
// store failing), leaves the showing unrecorded; a client that synced there misses an
// earlier message arriving later until its next full resync. Records of one stamp replace
// each other, so two processes of a stamp showing different last ids at the same moment may
// leave only the later record. Detection also needs a load of the mailbox after the late
// message arrived (any session, any stamp, any region that holds the record). A write of the
// mailbox row made through another region's endpoint (the store's failover) can be overwritten
// by one based on the older copy; each record also lifts the UIDValidity register to the
// UIDVALIDITY it was shown under, so a raise lost that way returns with the next record. Release
// upgrades: a process of a release that does not know these fields and rewrites the mailbox
// row drops them from its region's row. Normal operation, with lag below the delay, never
// changes UIDVALIDITY. The raise is a last resort: RFC 3501 has clients drop what they hold,
// but mbsync re-pairs by Message-ID and does not fetch the late message, and offlineimap stops
// syncing the folder; the delay is what keeps clients whole.
//
// Greetings are not held back (a client looks for the greeting it just APPENDed to flag it
// active), so greetings of different kinds written in two regions within the replication lag
// can still arrive beneath a UID shown. A message whose id carries a future time (clock skew,
// a client's X-Received) stays out of INBOX until that time.
const (
	uidTick      = 100 * time.Millisecond
	uidSlack     = time.Hour
	greetingTick = time.Second
)

// uidValidity is the creation time in Unix seconds, raised to floor (the replicated register).
func uidValidity(created time.Time, floor int64) uint32 {
	v := max(created.Unix(), floor)
	if v <= 0 {
		return 1
	}
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

// ticks counts whole ticks from one hour before created to t, plus one (at least 1).
func ticks(created, t time.Time, tick time.Duration, limit int64) int64 {
	d := t.Sub(created.Add(-uidSlack))
	if d < 0 {
		return 1
	}
	return min(int64(d/tick)+1, limit)
}

// uidBase is the tick of t for a mailbox created at created, at least 1.
func uidBase(created, t time.Time) uint32 {
	return uint32(ticks(created, t, uidTick, math.MaxUint32-1))
}

// assignUIDs gives each message (already sorted by id) its UID: the deposit tick, bumped to
// stay strictly above the previous message's UID.
func assignUIDs(created time.Time, deposits []time.Time) []uint32 {
	uids := make([]uint32, len(deposits))
	var prev uint32
	for i, t := range deposits {
		u := uidBase(created, t)
		if u <= prev {
			u = prev + 1
		}
		uids[i] = u
		prev = u
	}
	return uids
}

// historyUIDs maps every id of the history (ascending) to its UID and returns UIDNEXT.
func historyUIDs(created time.Time, history []string) (map[string]uint32, uint32) {
	times := make([]time.Time, len(history))
	for i, id := range history {
		times[i], _ = voicemail.MessageTime(id)
	}
	uids := assignUIDs(created, times)
	out := make(map[string]uint32, len(history))
	for i, id := range history {
		out[id] = uids[i]
	}
	next := uint32(1)
	if len(uids) > 0 {
		next = uids[len(uids)-1] + 1
	}
	return out, next
}

// visiblePrefix is the part of the history (ascending ids) whose deposit time is at least delay
// before now, and when the first message left out becomes visible (zero: none left out).
func visiblePrefix(history []string, now time.Time, delay time.Duration) ([]string, time.Time) {
	if delay <= 0 {
		return history, time.Time{}
	}
	cutoff := now.Add(-delay)
	n, _ := slices.BinarySearchFunc(history, cutoff, func(id string, c time.Time) int {
		t, _ := voicemail.MessageTime(id)
		return t.Compare(c)
	})
	// Ids sharing the cutoff's millisecond are at or past n; they are visible too.
	for n < len(history) {
		t, _ := voicemail.MessageTime(history[n])
		if t.After(cutoff) {
			break
		}
		n++
	}
	if n == len(history) {
		return history, time.Time{}
	}
	t, _ := voicemail.MessageTime(history[n])
	return history[:n], t.Add(delay)
}

// lateByRecords reports whether history holds more ids up to a stored record's Last than the
// record counted under the same UIDVALIDITY.
func lateByRecords(records []voicemail.Shown, validity uint32, history []string) bool {
	for _, r := range records {
		if r.Validity == validity && countUpTo(history, r.Last) > r.Count {
			return true
		}
	}
	return false
}

// countUpTo counts the ids of history (ascending) that are at most last.
func countUpTo(history []string, last string) int {
	n, found := slices.BinarySearch(history, last)
	if found {
		n++
	}
	return n
}

// singleFlight admits one operation per key at a time.
type singleFlight struct {
	mu   sync.Mutex
	busy map[string]bool
}

func (f *singleFlight) begin(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy[key] {
		return false
	}
	if f.busy == nil {
		f.busy = map[string]bool{}
	}
	f.busy[key] = true
	return true
}

func (f *singleFlight) end(key string) {
	f.mu.Lock()
	delete(f.busy, key)
	f.mu.Unlock()
}

// maxShown bounds the mailboxes a server remembers having shown; beyond it, the least
// recently shown is forgotten (its late arrivals then go unnoticed, as after a restart).
const maxShown = 1 << 17

// shownTracker remembers, per mailbox, what this process last showed of INBOX: under which
// UIDVALIDITY, the greatest id, and how many ids of the history were up to it. Sessions of the
// same process share it; it covers the moments before (or without) the replicated record.
type shownTracker struct {
	mu    sync.Mutex
	seq   uint64
	boxes map[string]shown
}

type shown struct {
	validity uint32
	last     string
	count    int
	seq      uint64 // recency, for eviction
}

func newShownTracker() *shownTracker { return &shownTracker{boxes: map[string]shown{}} }

// late reports whether history (the visible prefix, ascending) holds an id that was not there
// when the mailbox was last shown under validity, but orders before an id that was.
func (t *shownTracker) late(number string, validity uint32, history []string) bool {
	t.mu.Lock()
	prev, ok := t.boxes[number]
	t.mu.Unlock()
	if !ok || prev.validity != validity {
		return false
	}
	return countUpTo(history, prev.last) > prev.count
}

// record notes that history was shown under validity.
func (t *shownTracker) record(number string, validity uint32, history []string) {
	if len(history) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	prev, ok := t.boxes[number]
	if ok && prev.validity == validity && prev.last == history[len(history)-1] {
		prev.seq = t.seq
		t.boxes[number] = prev
		return
	}
	if !ok && len(t.boxes) >= maxShown {
		t.evict()
	}
	t.boxes[number] = shown{validity: validity, last: history[len(history)-1], count: len(history), seq: t.seq}
}

// evict forgets the least recently shown mailbox, scanning a sample of the map: eviction is
// rare and the exact oldest does not matter.
func (t *shownTracker) evict() {
	var oldest string
	var at uint64
	i := 0
	for k, v := range t.boxes {
		if oldest == "" || v.seq < at {
			oldest, at = k, v.seq
		}
		if i++; i == 64 {
			break
		}
	}
	delete(t.boxes, oldest)
}

// greetingUID is the UID of a greeting written at written.
func greetingUID(created, written time.Time, kind voicemail.GreetingKind) uint32 {
	k := max(slices.Index(voicemail.GreetingKinds, kind), 0)
	n := len(voicemail.GreetingKinds)
	return uint32(ticks(created, written, greetingTick, (math.MaxUint32-int64(n))/int64(n))*int64(n) + int64(k))
}
