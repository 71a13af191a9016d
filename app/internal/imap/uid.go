package imap

import (
	"math"
	"slices"
	"strings"
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
//   - INBOX: messages are ordered by their order key (voicemail.OrderKey: the time a message
//     joined the mailbox, which is its id's deposit time unless it was stored late or placed,
//     below). A message's UID counts 100 ms ticks from one hour before the mailbox's creation
//     (the hour absorbs clock skew between regions) to that time. UIDs are assigned over the
//     mailbox's whole history (deleted messages included) in key order, and a message whose
//     tick is not above its predecessor's UID gets predecessor+1, so UIDs are strictly
//     ascending and deleting a message never renumbers another. 2^32 ticks last 13.6 years per
//     mailbox. UIDNEXT is one above the last UID of the history, so it moves only when a
//     message is added, never with the clock.
//   - Greetings: a greeting is the last write of its kind's register (a re-recording is a new
//     message). Its UID is 4 × the seconds from one hour before the mailbox's creation to that
//     write, plus the kind's index, so kinds written in the same second differ. UIDNEXT is one
//     above the UID of the latest write of any kind, deletions included.
//
// RFC 3501 2.3.1.1 (RFC 9051 likewise) wants UIDs to ascend as messages are added: clients
// sync by fetching the UIDs above the last one they saw. Regions deposit concurrently and
// replicate with a lag, so a message can reach a stamp after a later one. Three rules keep
// the promise:
//
//   - Visibility delay (Config.VisibilityDelay, the stamp's VOICEMAIL_IMAP_VISIBILITY_DELAY):
//     INBOX shows only the messages whose key time is at least the delay old, a prefix of the
//     history in key order, and UIDNEXT is derived from that prefix. A message from another
//     region is present once replication lag plus clock skew has passed, so as long as the
//     delay exceeds that, every message is present before any later one is shown, and the
//     UIDs shown only ever grow at the end. (Deposit notifications wait as long, so a client
//     syncing on one finds the message; HTTP, the phone menu and MWI counts show it at once.)
//   - Late store: a message stored more than voicemail.LateStore after its id's time (from the
//     deposit queue after a store outage, or an HTTP deposit with a caller-chosen older id)
//     is keyed at its store time, which every region reads from its row.
//   - Placement when a message still arrives later than the delay (a partition between
//     regions): what INBOX showed is recorded (shownRecord: the last key shown, how many keys
//     were up to it, and a tag of each of the last tailLen ids shown) in this process's memory
//     (shownTracker) and, before the view answers, in the replicated mailbox state
//     (voicemail.Service.RecordShown, one record per stamp, written once per new last key). A
//     load that finds a key up to a record's last key that the record did not show (lateKeys)
//     places that message (voicemail.Service.PlaceMessages, a max-register in its row) at the
//     current time, above every key shown, before it shows anything. The message then has a
//     new key, is held back by the delay like a new deposit, and shows with a UID above
//     UIDNEXT, the same in every region: clients fetch it as a new message and UIDVALIDITY
//     stays. Concurrent placements (both sides of a healed partition find the other's
//     messages late) replicate within the delay and agree on the latest. The cost: a stamp
//     that had shown the message before (its own region's deposit during the partition)
//     shows it under the new UID from the next session on, so its clients see it expunged
//     and added again, once. Within a session it keeps its UID.
//   - Resync as a last resort: a late message that no record can name (older than every
//     record's tail, or found by a record from before tails) raises the mailbox's replicated
//     UIDValidity register past the value in use (voicemail.Service.RaiseUIDValidity, merged by
//     max). Every stamp of every region then derives the same greater UIDVALIDITY, selected
//     sessions end with BYE, and clients resync fully, as RFC 3501 allows when UIDs cannot
//     persist (mbsync then re-pairs by Message-ID and does not fetch the late message, and
//     offlineimap stops syncing the folder: the delay and placement are what keep them whole).
//
// A record replaces its stamp's previous one only if that is still what the view's snapshot
// held (voicemail.ErrShownChanged otherwise): when two processes of a stamp show the mailbox
// at the same moment, the second reads again and judges its view by the first one's record
// rather than overwriting it.
//
// What detection cannot see: a process whose record cannot be stored (the store failing; the
// view answers anyway) leaves the showing unrecorded; a client that synced there misses an
// earlier message arriving later until its next full resync. Detection also needs a load of
// the mailbox after the late message arrived (any session, any stamp, any region that holds
// the record). A write of the
// mailbox row made through another region's endpoint (the store's failover) can be overwritten
// by one based on the older copy; each record also lifts the UIDValidity register to the
// UIDVALIDITY it was shown under, so a raise lost that way returns with the next record.
//
// Greetings are held back by the delay too (greetingItems), except in the session that APPENDed
// them (an OMTP client looks for the greeting it just appended to flag it active): greetings of
// different kinds written in two regions within the replication lag show in UID order. Nothing
// records what Greetings showed, so a greeting arriving later than the delay (a partition), or
// one arriving beneath the greeting a session just appended, lands beneath a UID shown; a
// client that syncs only new UIDs finds it when it next lists the folder (at most four
// greetings) whole. A message whose id carries a future time (clock skew, a client's
// X-Received) stays out of INBOX until that time.
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

// historyUIDs maps the id of every order key of the history (ascending) to its UID and
// returns UIDNEXT.
func historyUIDs(created time.Time, history []string) (map[string]uint32, uint32) {
	times := make([]time.Time, len(history))
	for i, id := range history {
		times[i], _ = voicemail.MessageTime(id)
	}
	uids := assignUIDs(created, times)
	out := make(map[string]uint32, len(history))
	for i, key := range history {
		out[voicemail.KeyID(key)] = uids[i]
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

// tailLen is how many of the last keys shown a record names (by tag), and tagLen the length of
// each tag: the last 12 hex digits of the id's random part, unique within a mailbox in practice.
const (
	tailLen = 16
	tagLen  = 12
)

func tag(id string) string { return id[max(len(id)-tagLen, 0):] }

// shownRecord is what a view shows of history (the visible prefix, ascending) under validity.
func shownRecord(validity uint32, history []string) voicemail.Shown {
	tail := history[max(len(history)-tailLen, 0):]
	var b strings.Builder
	for _, k := range tail {
		b.WriteString(tag(voicemail.KeyID(k)))
	}
	return voicemail.Shown{Validity: validity, Last: history[len(history)-1], Count: len(history), From: tail[0], Tail: b.String()}
}

// showsAsMuch reports whether r records history (non-empty) shown under validity, so that a
// new record of it would say nothing more.
func showsAsMuch(r voicemail.Shown, validity uint32, history []string) bool {
	return r.Validity == validity && r.Last == history[len(history)-1] && r.Count == len(history)
}

// lateKeys returns the keys of history (the visible prefix, ascending) that arrived beneath
// what r showed under validity: keys up to r.Last that r did not show. unnamed reports late
// keys r cannot name: more keys below its tail than it counted there (or a record from before
// tails, which names none).
func lateKeys(r voicemail.Shown, validity uint32, history []string) (late []string, unnamed bool) {
	if r.Validity != validity || r.Last == "" {
		return nil, false
	}
	upTo := countUpTo(history, r.Last)
	if r.Tail == "" {
		return nil, upTo > r.Count
	}
	named := map[string]bool{}
	for i := 0; i+tagLen <= len(r.Tail); i += tagLen {
		named[r.Tail[i:i+tagLen]] = true
	}
	from, _ := slices.BinarySearch(history, r.From)
	from = min(from, upTo)
	for _, k := range history[from:upTo] {
		if !named[tag(voicemail.KeyID(k))] {
			late = append(late, k)
		}
	}
	switch shownBelow := r.Count - len(named); {
	case shownBelow <= 0:
		late = append(late, history[:from]...) // the tail is everything r showed
	case from > shownBelow:
		unnamed = true
	}
	return late, unnamed
}

// countUpTo counts the ids of history (ascending) that are at most last.
func countUpTo(history []string, last string) int {
	n, found := slices.BinarySearch(history, last)
	if found {
		n++
	}
	return n
}

// maxShown bounds the mailboxes a server remembers having shown; beyond it, the least
// recently shown is forgotten (its late arrivals then go unnoticed, as after a restart).
const maxShown = 1 << 16

// shownTracker remembers, per mailbox, what this process last showed of INBOX (the record it
// stores, see shownRecord). Sessions of the same process share it; it covers the moments
// before (or without) the replicated record.
type shownTracker struct {
	mu    sync.Mutex
	seq   uint64
	boxes map[string]shown
}

type shown struct {
	rec voicemail.Shown
	seq uint64 // recency, for eviction
}

func newShownTracker() *shownTracker { return &shownTracker{boxes: map[string]shown{}} }

// get returns what this process last showed of the mailbox (false: nothing remembered).
func (t *shownTracker) get(number string) (voicemail.Shown, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev, ok := t.boxes[number]
	return prev.rec, ok
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
	if ok && showsAsMuch(prev.rec, validity, history) {
		prev.seq = t.seq
		t.boxes[number] = prev
		return
	}
	if !ok && len(t.boxes) >= maxShown {
		t.evict()
	}
	t.boxes[number] = shown{rec: shownRecord(validity, history), seq: t.seq}
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
