package imap

import (
	"math"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// UIDs are derived, never stored, so every stamp and every session computes the same ones:
//
//   - UIDVALIDITY of INBOX is the mailbox's creation time in Unix seconds. A mailbox that is
//     removed and provisioned again gets a later creation time, hence a greater UIDVALIDITY,
//     which is exactly what RFC 3501 asks of a mailbox whose UIDs no longer persist.
//   - A message's UID counts 100 ms ticks from one hour before the mailbox's creation (the hour
//     absorbs clock skew between regions) to the deposit time the message id carries (unix milliseconds). 2^32
//     ticks last 13.6 years per mailbox.
//   - Messages are ordered by id (lexicographic = deposit order); a message whose tick is not
//     above its predecessor's UID gets predecessor+1, so UIDs are strictly ascending even for
//     two deposits within the same tick.
//
// Caveat: a message that reaches this stamp by replication after a later one was already shown
// to a session keeps its lower UID; the session shows it from its next SELECT on.
const (
	uidTick  = 100 * time.Millisecond
	uidSlack = time.Hour
)

func inboxUIDValidity(created time.Time) uint32 {
	v := created.Unix()
	if v <= 0 {
		return 1
	}
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

// uidBase is the tick of t for a mailbox created at created, at least 1.
func uidBase(created, t time.Time) uint32 {
	d := t.Sub(created.Add(-uidSlack))
	if d < 0 {
		return 1
	}
	ticks := int64(d/uidTick) + 1
	if ticks >= math.MaxUint32 {
		return math.MaxUint32 - 1
	}
	return uint32(ticks)
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

// idTime extracts the deposit time a message id carries ("<unix ms>-<region>-<random>").
func idTime(id string) (time.Time, bool) { return voicemail.MessageTime(id) }
