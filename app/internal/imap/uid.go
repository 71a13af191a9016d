package imap

import (
	"math"
	"slices"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// UIDs are derived, never stored, from state every region agrees on, so every stamp and every
// session computes the same ones and they survive restarts:
//
//   - UIDVALIDITY of both folders is the mailbox's creation time in Unix seconds. A mailbox
//     that is removed and provisioned again gets a later creation time, hence a greater
//     UIDVALIDITY, which is exactly what RFC 3501 asks of a mailbox whose UIDs no longer persist.
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
// Caveat: a message that reaches this stamp by replication after a later one was already shown
// to a session keeps its lower UID; the session shows it from its next SELECT on.
const (
	uidTick      = 100 * time.Millisecond
	uidSlack     = time.Hour
	greetingTick = time.Second
)

func uidValidity(created time.Time) uint32 {
	v := created.Unix()
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

// greetingUID is the UID of a greeting written at written.
func greetingUID(created, written time.Time, kind voicemail.GreetingKind) uint32 {
	k := max(slices.Index(voicemail.GreetingKinds, kind), 0)
	n := len(voicemail.GreetingKinds)
	return uint32(ticks(created, written, greetingTick, (math.MaxUint32-int64(n))/int64(n))*int64(n) + int64(k))
}
