package voicemail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// decode merges rows into one document.
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
func update[T any](ctx context.Context, r rows, number, entity string, fn func(*T) error) error {
	_, err := r.meta.Update(ctx, number, store.RowKey(entity, r.region), func(cur []byte) ([]byte, error) {
		var v T
		if cur != nil {
			if err := json.Unmarshal(cur, &v); err != nil {
				return nil, fmt.Errorf("decode own row %s: %w", entity, err)
			}
		}
		if err := fn(&v); err != nil {
			return nil, err
		}
		return json.Marshal(v)
	})
	if err != nil {
		var verr validationError
		if errors.As(err, &verr) || errors.Is(err, ErrInvalid) {
			return err
		}
		return wrapStore("write "+entity, err)
	}
	return nil
}

type validationError struct{ error }
