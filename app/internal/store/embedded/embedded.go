// Package embedded is the pure-Go store used when no Azure endpoint is configured: metadata in
// a bbolt file, the queue in a second bbolt file (so it is an independent second path), audio as
// files, and the state marker as a file, all under one data directory that survives restarts.
package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/contract"
)

// Options configure Open.
type Options struct {
	// StateFile is the state marker's file name inside the data directory (default "stamp-state").
	StateFile string
	// NoInitialState leaves a missing state marker missing at open; by default Open writes it
	// so a fresh stamp starts in service.
	NoInitialState bool
	// LockTimeout bounds the wait for the database file lock held by another process
	// (default 2 s); bbolt allows one process per file.
	LockTimeout time.Duration
}

var (
	bucketRows   = []byte("rows")
	bucketMeta   = []byte("meta")
	bucketQueue  = []byte("queue")
	bucketNotify = []byte("notify")
	keyVersion   = []byte("version")
)

// Open opens (creating if needed) the embedded store in dir.
func Open(dir string, opt Options) (*store.Backend, error) {
	if dir == "" {
		return nil, errors.New("embedded store: empty data directory")
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o750); err != nil {
		return nil, fmt.Errorf("embedded store: create data directory: %w", err)
	}
	if opt.LockTimeout <= 0 {
		opt.LockTimeout = 2 * time.Second
	}
	meta, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, &bolt.Options{Timeout: opt.LockTimeout})
	if err != nil {
		return nil, fmt.Errorf("embedded store: open %s: %w", filepath.Join(dir, "meta.db"), err)
	}
	qdb, err := bolt.Open(filepath.Join(dir, "queue.db"), 0o600, &bolt.Options{Timeout: opt.LockTimeout})
	if err != nil {
		meta.Close()
		return nil, fmt.Errorf("embedded store: open %s: %w", filepath.Join(dir, "queue.db"), err)
	}
	for _, db := range []*bolt.DB{meta, qdb} {
		if err := db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketRows, bucketMeta, bucketQueue, bucketNotify} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			meta.Close()
			qdb.Close()
			return nil, fmt.Errorf("embedded store: init buckets: %w", err)
		}
	}
	if opt.StateFile == "" {
		opt.StateFile = "stamp-state"
	}
	st := &State{path: filepath.Join(dir, opt.StateFile)}
	if !opt.NoInitialState {
		if ok, _ := st.Present(context.Background()); !ok {
			if err := st.Write(context.Background()); err != nil {
				meta.Close()
				qdb.Close()
				return nil, err
			}
		}
	}
	return &store.Backend{
		Meta:   &Meta{db: meta},
		Blobs:  &Blobs{dir: filepath.Join(dir, "blobs")},
		Queue:  &Queue{db: qdb, bucket: bucketQueue},
		Notify: &Queue{db: qdb, bucket: bucketNotify},
		State:  st,
		Close:  func() error { return errors.Join(meta.Close(), qdb.Close()) },
	}, nil
}

// Meta stores rows in bbolt. Row value: 8-byte big-endian version, then data.
type Meta struct{ db *bolt.DB }

func rowKey(partition, key string) []byte { return []byte(partition + "\x00" + key) }

func decodeRow(k, v []byte) store.Row {
	p, key, _ := strings.Cut(string(k), "\x00")
	return store.Row{Partition: p, Key: key, Version: int64(binary.BigEndian.Uint64(v[:8])), Data: bytes.Clone(v[8:])}
}

func encodeRow(version int64, data []byte) []byte {
	out := make([]byte, 8, 8+len(data))
	binary.BigEndian.PutUint64(out, uint64(version))
	return append(out, data...)
}

// Get implements store.Metadata.
func (m *Meta) Get(_ context.Context, partition, key string) (store.Row, error) {
	var row store.Row
	err := m.db.View(func(tx *bolt.Tx) error {
		k := rowKey(partition, key)
		v := tx.Bucket(bucketRows).Get(k)
		if v == nil {
			return fmt.Errorf("row %s/%s: %w", partition, key, store.ErrNotFound)
		}
		row = decodeRow(k, v)
		return nil
	})
	return row, err
}

// List implements store.Metadata.
func (m *Meta) List(_ context.Context, partition, prefix string) ([]store.Row, error) {
	var rows []store.Row
	err := m.db.View(func(tx *bolt.Tx) error {
		pre := rowKey(partition, prefix)
		c := tx.Bucket(bucketRows).Cursor()
		for k, v := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, v = c.Next() {
			rows = append(rows, decodeRow(k, v))
		}
		return nil
	})
	return rows, err
}

// nextVersion issues a store-wide increasing version at least as large as the time in µs, so
// versions also order writes across restarts and Export cursors stay meaningful.
func nextVersion(tx *bolt.Tx, atLeast int64) (int64, error) {
	b := tx.Bucket(bucketMeta)
	var last int64
	if v := b.Get(keyVersion); v != nil {
		last = int64(binary.BigEndian.Uint64(v))
	}
	next := max(last+1, atLeast, time.Now().UnixMicro())
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(next))
	return next, b.Put(keyVersion, buf[:])
}

// Update implements store.Metadata; bbolt serialises write transactions.
func (m *Meta) Update(_ context.Context, partition, key string, fn func([]byte) ([]byte, error)) (store.Row, error) {
	var row store.Row
	err := m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRows)
		k := rowKey(partition, key)
		var cur []byte
		var curVer int64
		if v := b.Get(k); v != nil {
			r := decodeRow(k, v)
			cur, curVer = r.Data, r.Version
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		ver, err := nextVersion(tx, curVer+1)
		if err != nil {
			return err
		}
		row = store.Row{Partition: partition, Key: key, Version: ver, Data: next}
		return b.Put(k, encodeRow(ver, next))
	})
	return row, err
}

// Insert implements store.Metadata.
func (m *Meta) Insert(_ context.Context, partition, key string, data []byte) (store.Row, error) {
	var row store.Row
	err := m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRows)
		k := rowKey(partition, key)
		if b.Get(k) != nil {
			return fmt.Errorf("row %s/%s: %w", partition, key, store.ErrExists)
		}
		ver, err := nextVersion(tx, 0)
		if err != nil {
			return err
		}
		row = store.Row{Partition: partition, Key: key, Version: ver, Data: bytes.Clone(data)}
		return b.Put(k, encodeRow(ver, data))
	})
	return row, err
}

// Export implements store.Metadata.
func (m *Meta) Export(_ context.Context, region string, since int64) ([]store.Row, error) {
	var rows []store.Row
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRows).ForEach(func(k, v []byte) error {
			r := decodeRow(k, v)
			if r.Version > since && (region == "" || strings.HasSuffix(r.Key, store.KeySep+region)) {
				rows = append(rows, r)
			}
			return nil
		})
	})
	return rows, err
}

// Import implements store.Metadata.
func (m *Meta) Import(_ context.Context, rows []store.Row) (int, error) {
	n := 0
	err := m.db.Update(func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketRows)
		for _, r := range rows {
			k := rowKey(r.Partition, r.Key)
			if v := b.Get(k); v != nil && decodeRow(k, v).Version >= r.Version {
				continue
			}
			if err := b.Put(k, encodeRow(r.Version, r.Data)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// Blobs stores each blob as a file; writes go through a temp file and rename so a crash never
// leaves a torn blob.
type Blobs struct{ dir string }

func (b *Blobs) path(name string) (string, error) {
	clean := filepath.Clean("/" + name)
	if name == "" || clean == "/" || strings.Contains(name, "..") {
		return "", fmt.Errorf("embedded store: bad blob name %q", name)
	}
	return filepath.Join(b.dir, filepath.FromSlash(clean)), nil
}

// Put implements store.Blobs.
func (b *Blobs) Put(_ context.Context, name string, data []byte) error {
	p, err := b.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("embedded store: put %s: %w", name, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("embedded store: put %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("embedded store: put %s: %w", name, err)
	}
	return nil
}

// Get implements store.Blobs.
func (b *Blobs) Get(_ context.Context, name string) ([]byte, error) {
	p, err := b.path(name)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded store: get %s: %w", name, err)
	}
	return data, nil
}

// Delete implements store.Blobs.
func (b *Blobs) Delete(_ context.Context, name string) error {
	p, err := b.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("embedded store: delete %s: %w", name, err)
	}
	return nil
}

// List implements store.Blobs.
func (b *Blobs) List(_ context.Context, prefix string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return nil
		}
		rel, err := filepath.Rel(b.dir, p)
		if err != nil {
			return err
		}
		if name := filepath.ToSlash(rel); strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded store: list %s: %w", prefix, err)
	}
	slices.Sort(names)
	return names, nil
}

// Queue is a bbolt-backed queue with visibility timeouts.
type Queue struct {
	db     *bolt.DB
	bucket []byte
}

type qitem struct {
	Text      string `json:"t"`
	Invisible int64  `json:"i"` // unix ms
	Pop       string `json:"p"`
	Count     int64  `json:"c"`
}

// Send implements store.Queue.
func (q *Queue) Send(_ context.Context, text string) error {
	if len(text) > store.MaxQueueMessage {
		return fmt.Errorf("embedded queue: message of %d bytes exceeds %d", len(text), store.MaxQueueMessage)
	}
	return q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(q.bucket)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(qitem{Text: text})
		if err != nil {
			return err
		}
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		return b.Put(k[:], v)
	})
}

// Receive implements store.Queue.
func (q *Queue) Receive(_ context.Context, max int, visibility time.Duration) ([]store.QueueMessage, error) {
	var out []store.QueueMessage
	now := time.Now()
	err := q.db.Update(func(tx *bolt.Tx) error {
		out = nil
		b := tx.Bucket(q.bucket)
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			var it qitem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("embedded queue: corrupt item: %w", err)
			}
			if it.Invisible > now.UnixMilli() {
				continue
			}
			var pop [8]byte
			rand.Read(pop[:])
			it.Pop, it.Invisible, it.Count = hex.EncodeToString(pop[:]), now.Add(visibility).UnixMilli(), it.Count+1
			nv, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if err := b.Put(bytes.Clone(k), nv); err != nil {
				return err
			}
			out = append(out, store.QueueMessage{ID: hex.EncodeToString(k), PopReceipt: it.Pop, Text: it.Text, DequeueCount: it.Count})
		}
		return nil
	})
	return out, err
}

// Delete implements store.Queue.
func (q *Queue) Delete(_ context.Context, m store.QueueMessage) error {
	k, err := hex.DecodeString(m.ID)
	if err != nil {
		return fmt.Errorf("embedded queue: bad message id %q", m.ID)
	}
	return q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(q.bucket)
		v := b.Get(k)
		if v == nil {
			return fmt.Errorf("queue message %s: %w", m.ID, store.ErrNotFound)
		}
		var it qitem
		if err := json.Unmarshal(v, &it); err != nil {
			return err
		}
		if it.Pop != m.PopReceipt {
			return fmt.Errorf("queue message %s: pop receipt is stale: %w", m.ID, store.ErrNotFound)
		}
		return b.Delete(k)
	})
}

// State is the state marker file.
type State struct{ path string }

// Present implements store.State.
func (s *State) Present(context.Context) (bool, error) {
	_, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("state file %s: %w", s.path, err)
	}
	return true, nil
}

// Write implements store.State.
func (s *State) Write(context.Context) error {
	if err := os.WriteFile(s.path, contract.InServiceBody, 0o640); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return nil
}

// Remove implements store.State.
func (s *State) Remove(context.Context) error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state file: %w", err)
	}
	return nil
}
