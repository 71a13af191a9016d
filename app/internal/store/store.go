// Package store defines the storage a voicemail stamp needs: metadata rows (Cosmos DB for Table
// or the embedded store), audio blobs, a queue for the second deposit path and notifications,
// and the stamp's state marker. Backends live in subpackages; storetest holds the conformance
// suite every backend passes.
package store

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Sentinel errors; backends wrap them with %w.
var (
	ErrNotFound = errors.New("store: not found")
	// ErrExists is returned by Insert for a row that is already there.
	ErrExists = errors.New("store: already exists")
	// ErrUnavailable marks a failure of the backend itself (network, process down, timeout),
	// as opposed to a missing item. Callers fall back to the queue path on it.
	ErrUnavailable = errors.New("store: unavailable")
)

// KeySep separates an entity from the region that wrote the row in a RowKey:
// "<entity>~<region>". Azure Table and Cosmos DB for Table forbid "#", "/", "\" and "?" in
// keys, so the separator is "~".
const KeySep = "~"

// RowKey builds "<entity>~<region>".
func RowKey(entity, region string) string { return entity + KeySep + region }

// SplitRowKey returns the entity and region of a row key.
func SplitRowKey(key string) (entity, region string) {
	i := strings.LastIndex(key, KeySep)
	if i < 0 {
		return key, ""
	}
	return key[:i], key[i+1:]
}

// Row is one stored metadata row. Version grows every time the row is written; because only one
// region writes a given row, a higher Version always contains the lower one, so copying rows
// between stores (Import) keeps the higher and is idempotent and order-independent.
type Row struct {
	Partition string `json:"p"`
	Key       string `json:"k"`
	Version   int64  `json:"v"`
	Data      []byte `json:"d"`
}

// Metadata is the row store.
type Metadata interface {
	// Get returns one row or ErrNotFound.
	Get(ctx context.Context, partition, key string) (Row, error)
	// List returns a partition's rows whose key starts with prefix, in key order.
	List(ctx context.Context, partition, prefix string) ([]Row, error)
	// Update atomically replaces a row with fn(current data; nil when absent). Concurrent
	// updates of one row never lose a write (transactions or ETag retries).
	Update(ctx context.Context, partition, key string, fn func(cur []byte) ([]byte, error)) (Row, error)
	// Insert creates a row that must not exist yet (ErrExists otherwise): one round trip where
	// Update needs two, for rows with a fresh key such as a new message.
	Insert(ctx context.Context, partition, key string, data []byte) (Row, error)
	// Export lists rows written by region (key suffix "~region"; "" = all) with Version > since.
	Export(ctx context.Context, region string, since int64) ([]Row, error)
	// Import stores rows copied from another store, keeping whichever Version is higher.
	// It returns how many rows changed.
	Import(ctx context.Context, rows []Row) (int, error)
}

// Blobs is the audio store. Names are slash-separated paths.
type Blobs interface {
	Put(ctx context.Context, name string, data []byte) error
	// Get returns the blob or ErrNotFound.
	Get(ctx context.Context, name string) ([]byte, error)
	// Delete removes a blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, name string) error
	// List returns blob names starting with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Queue is an at-least-once message queue with visibility timeouts (Azure Storage Queue
// semantics). Message text must stay under MaxQueueMessage bytes.
type Queue interface {
	Send(ctx context.Context, text string) error
	// Receive hides up to max messages for visibility and returns them.
	Receive(ctx context.Context, max int, visibility time.Duration) ([]QueueMessage, error)
	// Delete removes a received message; its PopReceipt must be current.
	Delete(ctx context.Context, m QueueMessage) error
}

// MaxQueueMessage is the text budget of one queue message. Azure allows 64 KiB on the wire and
// the Azure backend base64-encodes the text (4/3), so text must stay under 48 KiB.
const MaxQueueMessage = 48 * 1024

// QueueMessage is one received message.
type QueueMessage struct {
	ID           string
	PopReceipt   string
	Text         string
	DequeueCount int64
}

// State is the stamp's state marker (a blob in Azure, a file for the embedded store). A stamp
// whose marker is missing reports itself unhealthy so traffic drains away from it.
type State interface {
	Present(ctx context.Context) (bool, error)
	Write(ctx context.Context) error
	Remove(ctx context.Context) error
}

// Regions reaches the audio other regions stored. Object replication copies each region's
// audio container into a read-only replica container in other regions' accounts,
// asynchronously: Get reads this region's replica of origin first, then origin's own
// container, then the other regions' replicas, so audio plays while replication lags or a
// region's blob store is down. Delete removes the blob at origin (replicas are read-only).
type Regions interface {
	Get(ctx context.Context, origin, name string) ([]byte, error)
	Delete(ctx context.Context, origin, name string) error
}

// Backend bundles one stamp's storage.
type Backend struct {
	Meta  Metadata
	Blobs Blobs
	// Regions reaches other regions' audio; nil when every blob is local (one region, or the
	// embedded store).
	Regions Regions
	Queue   Queue
	// Notify carries deposit notifications to consumers outside the stamp (e-mail, SMS to
	// trigger visual voicemail sync); nil disables them.
	Notify Queue
	State  State
	// Close releases the backend; may be nil.
	Close func() error
}

// Unavailable reports whether err is a backend outage (worth the queue fallback) rather than a
// logical answer such as ErrNotFound.
func Unavailable(err error) bool {
	return err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, context.Canceled)
}
