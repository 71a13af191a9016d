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
