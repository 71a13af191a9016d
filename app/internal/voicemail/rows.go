package voicemail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/voicemail-platform/voicemail/app/internal/crdt"
	"github.com/voicemail-platform/voicemail/app/internal/store"
)

// A mailbox is stored as CRDT rows in one partition (the mailbox number): each region writes
// only its own row of each entity (keyed store.RowKey(entity, region)), and readers
// merge every region's rows, so the store's last-writer-wins never discards a write.

// Row entities.
const (
	entBox  = "box"
	entLock = "lock"
	entMsg  = "m:"
	// entAdmit is the region's deposit admissions (message id -> admitted at, Unix ms): the
	// compare-and-swap that makes maxMessages exact across a region's processes. Readers of the
	// mailbox ignore it.
	entAdmit = "admit"
)

func wrapStore(op string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// rows reads and writes mailbox documents as CRDT rows in the metadata store.
type rows struct {
	meta   store.Metadata
	region string      // the region whose rows this process writes
	clock  *crdt.Clock // kept ahead of every timestamp read, so our next write wins over it
}

// load reads every region's rows of a mailbox and merges them.
func (r rows) load(ctx context.Context, number string) (crdt.Doc, error) {
	list, err := r.meta.List(ctx, number, "")
	if err != nil {
		return crdt.Doc{}, wrapStore("read mailbox", err)
	}
	return r.decode(list)
}

// decode merges rows into one document. Keys a row's type has no field for (a newer
// release's) are ignored; the merged document is never written back (see update).
func (rs rows) decode(list []store.Row) (crdt.Doc, error) {
	doc := crdt.Doc{Messages: map[string]crdt.Message{}, Locks: map[string]crdt.Lock{}}
	var latest crdt.Timestamp
	for _, r := range list {
		entity, region := store.SplitRowKey(r.Key)
		switch {
		case entity == entBox:
			var m crdt.Mailbox
			if err := json.Unmarshal(r.Data, &m); err != nil {
				return doc, fmt.Errorf("decode row %s/%s: %w", r.Partition, r.Key, err)
			}
			doc.Mailbox = doc.Mailbox.Merge(m)
			latest = crdt.Max(latest, m.Latest())
		case entity == entLock:
			var l crdt.Lock
			if err := json.Unmarshal(r.Data, &l); err != nil {
				return doc, fmt.Errorf("decode row %s/%s: %w", r.Partition, r.Key, err)
			}
			doc.Locks[region] = doc.Locks[region].Merge(l)
		case strings.HasPrefix(entity, entMsg):
			var m crdt.Message
			if err := json.Unmarshal(r.Data, &m); err != nil {
				return doc, fmt.Errorf("decode row %s/%s: %w", r.Partition, r.Key, err)
			}
			id := strings.TrimPrefix(entity, entMsg)
			doc.Messages[id] = doc.Messages[id].Merge(m)
			latest = crdt.Max(latest, m.Latest())
		}
	}
	// Keep our clock ahead of everything we have seen so our next write wins over it.
	rs.clock.Observe(latest)
	return doc, nil
}

// update read-modify-writes this region's row for entity, decoding into T.
//
// Rows are forward compatible across releases. During a rolling upgrade two releases rewrite
// the same rows, and a row written by a newer release may hold what this release's T has no
// field for. When T is a struct, update writes it back as stored: members whose keys T does not
// know (matched as encoding/json matches them, ignoring case) are appended after T's encoding,
// and a member whose value fn left as it was keeps its stored bytes, so fields added inside it
// (a message's info, one writer's Shown entry, any map entry fn did not touch) survive too. A
// value fn changes is encoded from T alone: what it held beyond T described the old value.
// The row stays one plain JSON object that every release reads, and a row holding nothing
// beyond T (every row this release wrote) is rewritten exactly as json.Marshal encodes T, as
// before. A row whose T is a map (the admission row) holds entries, not fields: all its keys
// are T's, and removed ones stay removed. Readers that merge several regions' rows (decode)
// ignore what their types do not know; no merged document is ever written back, as each region
// rewrites only its own rows, through update.
func update[T any](ctx context.Context, r rows, number, entity string, fn func(*T) error) error {
	_, err := r.meta.Update(ctx, number, store.RowKey(entity, r.region), func(cur []byte) ([]byte, error) {
		return rewrite(entity, cur, fn)
	})
	if err != nil {
		var verr validationError
		if errors.As(err, &verr) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrShownChanged) {
			return err
		}
		return wrapStore("write "+entity, err)
	}
	return nil
}

// rewrite is update's step: it decodes cur (the row as stored; nil when absent) into T, applies
// fn and encodes the result, keeping what cur holds beyond T.
func rewrite[T any](entity string, cur []byte, fn func(*T) error) ([]byte, error) {
	var v T
	if cur != nil {
		if err := json.Unmarshal(cur, &v); err != nil {
			return nil, fmt.Errorf("decode own row %s: %w", entity, err)
		}
	}
	if err := fn(&v); err != nil {
		return nil, err
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if t := reflect.TypeFor[T](); t.Kind() == reflect.Struct && cur != nil {
		return keepUnknown(t, reflect.ValueOf(&v).Elem(), cur, out), nil
	}
	return out, nil
}

type validationError struct{ error }
