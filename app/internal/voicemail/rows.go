package voicemail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
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
// the same rows, and a newer release's row may hold top-level keys that this release's T has no
// field for. When T is a struct, update writes those members back as stored, after T's own
// encoding, so the newer release's state survives this release's rewrites. Keys T knows
// (matched as encoding/json matches them, ignoring case) are encoded exactly as json.Marshal
// encodes T, and the row stays one plain JSON object that every release reads; a row without
// unknown keys is byte for byte what json.Marshal makes. Only top-level keys are kept: a field
// added inside a nested object (a register, a message's info, a Shown entry) is dropped by an
// older release's rewrite, so new state goes in new top-level keys. A row whose T is a map (the
// admission row) holds entries, not fields: all its keys are T's, and removed ones stay removed.
// Readers that merge several regions' rows (decode) ignore unknown keys; no merged document is
// ever written back, as each region rewrites only its own rows, through update.
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
// fn and encodes the result, keeping cur's keys that T has no field for.
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
		return keepUnknown(t, cur, out), nil
	}
	return out, nil
}

// keepUnknown returns out, struct type t's encoding of a rewritten row, with the members of
// cur (the row as read, valid JSON) whose keys t has no field for appended as they were
// stored, in their order. It scans cur without decoding it: most rows have no such key.
func keepUnknown(t reflect.Type, cur, out []byte) []byte {
	names := fieldNames(t, make([]string, 0, 32))
	kept := out[: len(out)-1 : len(out)-1] // out without its closing brace; appending copies
	found := false
	eachMember(cur, func(key, member []byte) {
		k := key[1 : len(key)-1]
		if bytes.IndexByte(k, '\\') >= 0 { // an escaped key: compare what it spells
			var unq string
			if json.Unmarshal(key, &unq) == nil {
				k = []byte(unq)
			}
		}
		if slices.Contains(names, string(k)) || // most keys are as T spells them
			slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, string(k)) }) {
			return
		}
		if len(kept) > 1 {
			kept = append(kept, ',')
		}
		kept, found = append(kept, member...), true
	})
	if !found {
		return out
	}
	return append(kept, '}')
}

// eachMember calls fn with every member of the JSON object data (valid JSON): its key as
// written (quoted) and the whole member (key, colon, value) as written.
func eachMember(data []byte, fn func(key, member []byte)) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return
	}
	for i = skipSpace(data, i+1); i < len(data) && data[i] == '"'; i = skipSpace(data, i+1) {
		start := i
		i = skipValue(data, i)
		key := data[start:i]
		i = skipSpace(data, skipSpace(data, i)+1) // past ':'
		i = skipValue(data, i)
		fn(key, data[start:i])
		if i = skipSpace(data, i); i >= len(data) || data[i] != ',' {
			return
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at data[i].
func skipValue(data []byte, i int) int {
	depth := 0
	for ; i < len(data); i++ {
		switch data[i] {
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // ends the enclosing object: the value was a number or literal
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

// fieldNames appends the object keys encoding/json gives struct type t's fields: a field's tag
// name or else its name; fields of an embedded struct without a tag name are promoted.
func fieldNames(t reflect.Type, names []string) []string {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if ft := f.Type; f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				names = fieldNames(ft, names)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	return names
}

type validationError struct{ error }
