package voicemail

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Message IDs have the form
//
//	<13-digit unix milliseconds of deposit>-<region>-<16 hex random>
//
// for example "1763798400123-westeurope-9f86d081884c7d65". Lexicographic order of ids is
// deposit order (to the millisecond; the random suffix orders same-millisecond deposits
// arbitrarily but stably), so IMAP can derive stable UIDs from them, and ids are unique across
// regions without coordination. Callers may choose an id (for idempotent retries) with
// NewMessageID; Deposit rejects ids not of this form.
var messageIDRe = regexp.MustCompile(`^[0-9]{13}-[a-z0-9][a-z0-9-]{0,31}-[0-9a-f]{16}$`)

// NewMessageID returns a fresh message id for a deposit received at t in region.
func NewMessageID(region string, t time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%013d-%s-%s", t.UnixMilli(), region, hex.EncodeToString(b[:]))
}

// ValidMessageID reports whether id has the message id form.
func ValidMessageID(id string) bool { return messageIDRe.MatchString(id) }

// MessageTime returns the deposit time embedded in a message id.
func MessageTime(id string) (time.Time, bool) {
	if len(id) < 13 {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(id[:13], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// MessageRegion returns the region embedded in a message id ("" when id is not one).
func MessageRegion(id string) string {
	if !ValidMessageID(id) || len(id) < 14+1+17 {
		return ""
	}
	return id[14 : len(id)-17]
}

// LateStore is how long after its id's time a message may be stored and still be ordered by
// its id. A message stored later (from the deposit queue after a store outage, or under a
// caller-chosen older id or received time) joined the mailbox at its store time, and IMAP orders it there, so
// that it never lands beneath messages IMAP showed in the meantime.
const LateStore = time.Second

// OrderKey is the key IMAP orders a message by, as every region derives it: the id when the
// message joined the mailbox at its id's time, else the unix milliseconds it joined at (13
// digits, like an id's), "+" and the id. Keys sort by joining time like ids, and MessageTime
// reads a key's joining time as it reads an id's deposit time.
func OrderKey(id string, joined time.Time) string {
	if t, ok := MessageTime(id); ok && joined.UnixMilli() <= t.UnixMilli() {
		return id
	}
	return fmt.Sprintf("%013d+%s", joined.UnixMilli(), id)
}

// KeyID is the message id of an order key.
func KeyID(key string) string {
	if len(key) > 14 && key[13] == '+' {
		return key[14:]
	}
	return key
}
