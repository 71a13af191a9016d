// Package azure is the store backend for Azure: Cosmos DB for Table (or Azure Table Storage /
// Azurite) via aztables for metadata rows, Blob Storage via azblob for audio and the stamp's
// state blob, and Storage Queues via azqueue for the second deposit path. In Azure it
// authenticates with a token credential (workload identity); a connection string is accepted
// for Azurite only.
package azure

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"

	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/contract"
)

// Config selects the endpoints and names. Either ConnectionString (Azurite) or the three
// endpoints plus Credential must be set.
type Config struct {
	ConnectionString string
	TableEndpoint    string // e.g. https://<account>-<region>.table.cosmos.azure.com/
	// TableFallbackEndpoints are the account's Table endpoints in the other regions, in
	// failover order: a request the region's endpoint fails (transport error, 500, 502, 503,
	// 504) goes to the next one, and the region's endpoint is tried again after a while.
	// With a connection string they stand beside its TableEndpoint (Azurite per region).
	TableFallbackEndpoints []string
	BlobEndpoint           string // e.g. https://<account>.blob.core.windows.net/
	QueueEndpoint          string // e.g. https://<account>.queue.core.windows.net/
	Credential             azcore.TokenCredential

	Table          string // default contract.ServiceTable
	AudioContainer string // default contract.AudioContainer
	Queue          string // default contract.DepositQueue
	NotifyQueue    string // default contract.NotificationQueue
	StateContainer string // default contract.StateContainer
	StateBlob      string // the stamp's state blob; default "stamp"
	// BlobRegions are the other regions' audio accounts (region -> blob endpoint); with them
	// the backend reads audio those regions stored (Backend.Regions).
	BlobRegions map[string]string
	// WriteInitialState creates the state blob at Open when it is missing.
	WriteInitialState bool

	// Retry overrides the SDK retry policy (default: 2 retries, 100 ms..1 s backoff, 10 s per
	// try) so an outage is detected in about a second rather than after the SDK's minute.
	Retry *policy.RetryOptions
	// Transport replaces the SDK's HTTP client, for example to count requests in tests.
	Transport policy.Transporter
	// Log receives notices: a Table endpoint passed over after a failure, and back in use.
	// Nil discards them.
	Log *slog.Logger
}

// Backend holds the clients; Store returns it as a store.Backend.
type Backend struct {
	table     *aztables.Client
	blobs     *azblob.Client
	queue     *azqueue.QueueClient
	notify    *azqueue.QueueClient
	audio     string
	stateCont string
	stateBlob string
}

// Open builds the clients. With a connection string (Azurite) it creates the table,
// containers and queues when missing; with endpoints (Azure) it makes no call at all: the
// program owns those resources, and a process that needed storage to start could not start or
// scale out while storage is down, defeating the queue fallback.
func Open(ctx context.Context, cfg Config) (*store.Backend, error) {
	if cfg.Table == "" {
		cfg.Table = contract.ServiceTable
	}
	if cfg.AudioContainer == "" {
		cfg.AudioContainer = contract.AudioContainer
	}
	if cfg.Queue == "" {
		cfg.Queue = contract.DepositQueue
	}
	if cfg.StateContainer == "" {
		cfg.StateContainer = contract.StateContainer
	}
	if cfg.NotifyQueue == "" {
		cfg.NotifyQueue = contract.NotificationQueue
	}
	if cfg.StateBlob == "" {
		cfg.StateBlob = "stamp"
	}
	retry := policy.RetryOptions{MaxRetries: 2, RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second, TryTimeout: 10 * time.Second}
	if cfg.Retry != nil {
		retry = *cfg.Retry
	}
	core := azcore.ClientOptions{Retry: retry, Transport: cfg.Transport}
	tableCore := core
	tableCore.PerCallPolicies = []policy.Policy{takeBody{}}
	if len(cfg.TableFallbackEndpoints) > 0 {
		primary := cfg.TableEndpoint
		if cfg.ConnectionString != "" {
			var err error
			if primary, err = tableEndpoint(cfg.ConnectionString); err != nil {
				return nil, err
			}
		}
		f, err := newFailover(primary, cfg.TableFallbackEndpoints, cfg.Transport, cfg.Log)
		if err != nil {
			return nil, err
		}
		tableCore.Transport = f
	}
	b := &Backend{audio: cfg.AudioContainer, stateCont: cfg.StateContainer, stateBlob: cfg.StateBlob}
	var err error
	if cfg.ConnectionString != "" {
		var tsvc *aztables.ServiceClient
		if tsvc, err = aztables.NewServiceClientFromConnectionString(cfg.ConnectionString, &aztables.ClientOptions{ClientOptions: tableCore}); err != nil {
			return nil, fmt.Errorf("table client: %w", err)
		}
		b.table = tsvc.NewClient(cfg.Table)
		if b.blobs, err = azblob.NewClientFromConnectionString(cfg.ConnectionString, &azblob.ClientOptions{ClientOptions: core}); err != nil {
			return nil, fmt.Errorf("blob client: %w", err)
		}
		qsvc, err := azqueue.NewServiceClientFromConnectionString(cfg.ConnectionString, &azqueue.ClientOptions{ClientOptions: core})
		if err != nil {
			return nil, fmt.Errorf("queue client: %w", err)
		}
		b.queue, b.notify = qsvc.NewQueueClient(cfg.Queue), qsvc.NewQueueClient(cfg.NotifyQueue)
	} else {
		if cfg.Credential == nil || cfg.TableEndpoint == "" || cfg.BlobEndpoint == "" || cfg.QueueEndpoint == "" {
			return nil, errors.New("azure store: table, blob and queue endpoints and a credential are required")
		}
		tsvc, err := aztables.NewServiceClient(cfg.TableEndpoint, cfg.Credential, &aztables.ClientOptions{ClientOptions: tableCore})
		if err != nil {
			return nil, fmt.Errorf("table client: %w", err)
		}
		b.table = tsvc.NewClient(cfg.Table)
		if b.blobs, err = azblob.NewClient(cfg.BlobEndpoint, cfg.Credential, &azblob.ClientOptions{ClientOptions: core}); err != nil {
			return nil, fmt.Errorf("blob client: %w", err)
		}
		qsvc, err := azqueue.NewServiceClient(cfg.QueueEndpoint, cfg.Credential, &azqueue.ClientOptions{ClientOptions: core})
		if err != nil {
			return nil, fmt.Errorf("queue client: %w", err)
		}
		b.queue, b.notify = qsvc.NewQueueClient(cfg.Queue), qsvc.NewQueueClient(cfg.NotifyQueue)
	}
	if cfg.ConnectionString != "" {
		if err := b.ensure(ctx, cfg); err != nil {
			return nil, err
		}
	}
	st := &State{b: b}
	if cfg.WriteInitialState {
		if ok, err := st.Present(ctx); err != nil {
			return nil, err
		} else if !ok {
			if err := st.Write(ctx); err != nil {
				return nil, err
			}
		}
	}
	sb := &store.Backend{Meta: &Meta{b: b}, Blobs: &Blobs{b: b}, Queue: &Queue{q: b.queue}, Notify: &Queue{q: b.notify}, State: st}
	if len(cfg.BlobRegions) > 0 {
		regions, err := newRegions(cfg, b.blobs, &azblob.ClientOptions{ClientOptions: core})
		if err != nil {
			return nil, err
		}
		sb.Regions = regions
	}
	return sb, nil
}

func (b *Backend) ensure(ctx context.Context, cfg Config) error {
	if _, err := b.table.CreateTable(ctx, nil); err != nil && !hasCode(err, "TableAlreadyExists") {
		return fmt.Errorf("create table %s: %w", cfg.Table, classify(err))
	}
	for _, c := range []string{cfg.AudioContainer, cfg.StateContainer} {
		if _, err := b.blobs.CreateContainer(ctx, c, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return fmt.Errorf("create container %s: %w", c, classify(err))
		}
	}
	for name, q := range map[string]*azqueue.QueueClient{cfg.Queue: b.queue, cfg.NotifyQueue: b.notify} {
		if _, err := q.Create(ctx, nil); err != nil && !queueerror.HasCode(err, queueerror.QueueAlreadyExists) {
			return fmt.Errorf("create queue %s: %w", name, classify(err))
		}
	}
	return nil
}

func hasCode(err error, code string) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == code
}

func status(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// classify maps SDK errors onto the store sentinels: 404 is ErrNotFound; transport failures,
// timeouts, throttling and 5xx are ErrUnavailable; other 4xx are returned as they are.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch s := status(err); {
	case s == http.StatusNotFound:
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	case s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests:
		return err
	case errors.Is(err, context.Canceled):
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// Meta stores rows as table entities: PartitionKey, RowKey, V (Int64 version), D (string data).
type Meta struct{ b *Backend }

// entity is a stored row as the table service returns it. Decoding into it directly (rather
// than through aztables.EDMEntity's maps) keeps reading a whole mailbox cheap.
type entity struct {
	PartitionKey string          `json:"PartitionKey"`
	RowKey       string          `json:"RowKey"`
	V            json.RawMessage `json:"V"` // Edm.Int64 arrives as a JSON string; a number is accepted too
	D            *string         `json:"D"`
}

func decodeEntity(raw []byte) (store.Row, error) {
	var e entity
	if err := json.Unmarshal(raw, &e); err != nil {
		return store.Row{}, fmt.Errorf("decode entity: %w", err)
	}
	return e.row()
}

func (e entity) row() (store.Row, error) {
	r := store.Row{Partition: e.PartitionKey, Key: e.RowKey}
	if e.D != nil {
		r.Data = []byte(*e.D)
	}
	if v := strings.Trim(string(e.V), `"`); v != "" && v != "null" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(v, 64)
			if ferr != nil {
				return store.Row{}, fmt.Errorf("decode entity %s/%s: version %s: %w", e.PartitionKey, e.RowKey, e.V, err)
			}
			n = int64(f)
		}
		r.Version = n
	}
	return r, nil
}

func encodeEntity(r store.Row) ([]byte, error) {
	return json.Marshal(aztables.EDMEntity{
		Entity:     aztables.Entity{PartitionKey: r.Partition, RowKey: r.Key},
		Properties: map[string]any{"V": aztables.EDMInt64(r.Version), "D": string(r.Data)},
	})
}

func odataString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Get implements store.Metadata.
func (m *Meta) Get(ctx context.Context, partition, key string) (store.Row, error) {
	resp, err := m.b.table.GetEntity(ctx, partition, key, nil)
	if err != nil {
		return store.Row{}, fmt.Errorf("get row %s/%s: %w", partition, key, classify(err))
	}
	return decodeEntity(resp.Value)
}

// bodyKey marks a request whose successful response body the caller decodes itself (see
// takeBody); its value is the *[]byte that receives the body.
type bodyKey struct{}

// takeBody is a per-call pipeline policy. For a request marked with bodyKey it hands the
// response body to the caller and gives the SDK an empty entity list to decode instead: the
// SDK would decode every entity into a map and encode it again before we decode it once more;
// that was about half the CPU this process spent reading a mailbox on each deposit.
type takeBody struct{}

func (takeBody) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	dst, ok := req.Raw().Context().Value(bodyKey{}).(*[]byte)
	if err != nil || !ok || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	*dst = body
	const empty = `{"value":[]}`
	resp.Body, resp.ContentLength = io.NopCloser(strings.NewReader(empty)), int64(len(empty))
	return resp, nil
}

func (m *Meta) query(ctx context.Context, filter string) ([]store.Row, error) {
	var rows []store.Row
	// Only the row's own columns and no OData metadata: the service then serializes less per
	// row, which matters for reading a whole mailbox on every deposit.
	sel, format := "PartitionKey,RowKey,V,D", aztables.MetadataFormatNone
	pager := m.b.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel, Format: &format})
	for pager.More() {
		var body []byte
		if _, err := pager.NextPage(context.WithValue(ctx, bodyKey{}, &body)); err != nil {
			return nil, fmt.Errorf("query rows: %w", classify(err))
		}
		var page struct {
			Value []entity `json:"value"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("query rows: decode: %w", err)
		}
		for _, e := range page.Value {
			r, err := e.row()
			if err != nil {
				return nil, err
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// List implements store.Metadata.
func (m *Meta) List(ctx context.Context, partition, prefix string) ([]store.Row, error) {
	filter := "PartitionKey eq " + odataString(partition)
	if prefix != "" {
		// Rows with the prefix sort between prefix and the prefix with its last byte bumped.
		end := prefix[:len(prefix)-1] + string(rune(prefix[len(prefix)-1]+1))
		filter += " and RowKey ge " + odataString(prefix) + " and RowKey lt " + odataString(end)
	}
	rows, err := m.query(ctx, filter)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(a, b store.Row) int { return strings.Compare(a.Key, b.Key) })
	return rows, nil
}

// Update implements store.Metadata with optimistic concurrency (ETag If-Match, retried).
func (m *Meta) Update(ctx context.Context, partition, key string, fn func([]byte) ([]byte, error)) (store.Row, error) {
	for attempt := 0; ; attempt++ {
		var cur []byte
		var curVer int64
		var etag *azcore.ETag
		resp, err := m.b.table.GetEntity(ctx, partition, key, nil)
		switch {
		case err == nil:
			r, err := decodeEntity(resp.Value)
			if err != nil {
				return store.Row{}, err
			}
			cur, curVer, etag = r.Data, r.Version, &resp.ETag
		case status(err) != http.StatusNotFound:
			return store.Row{}, fmt.Errorf("update row %s/%s: %w", partition, key, classify(err))
		}
		next, err := fn(cur)
		if err != nil {
			return store.Row{}, err
		}
		row := store.Row{Partition: partition, Key: key, Version: max(curVer+1, time.Now().UnixMicro()), Data: next}
		body, err := encodeEntity(row)
		if err != nil {
			return store.Row{}, err
		}
		if etag == nil {
			_, err = m.b.table.AddEntity(noEcho(ctx), body, nil)
		} else {
			_, err = m.b.table.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: etag, UpdateMode: aztables.UpdateModeReplace})
		}
		if err == nil {
			return row, nil
		}
		if s := status(err); (s == http.StatusConflict || s == http.StatusPreconditionFailed) && attempt < maxConflictRetries {
			backoff(ctx, attempt) // a concurrent writer got there first; re-read and re-apply
			continue
		}
		return store.Row{}, fmt.Errorf("update row %s/%s: %w", partition, key, classify(err))
	}
}

// Insert implements store.Metadata.
func (m *Meta) Insert(ctx context.Context, partition, key string, data []byte) (store.Row, error) {
	row := store.Row{Partition: partition, Key: key, Version: time.Now().UnixMicro(), Data: data}
	body, err := encodeEntity(row)
	if err != nil {
		return store.Row{}, err
	}
	if _, err := m.b.table.AddEntity(noEcho(ctx), body, nil); err != nil {
		if status(err) == http.StatusConflict {
			return store.Row{}, fmt.Errorf("insert row %s/%s: %w", partition, key, store.ErrExists)
		}
		return store.Row{}, fmt.Errorf("insert row %s/%s: %w", partition, key, classify(err))
	}
	return row, nil
}

// noEcho asks the table service not to send an inserted entity back (204 instead of 201 with
// the entity): nobody reads it, and the service then has less to serialize per insert.
func noEcho(ctx context.Context) context.Context {
	return policy.WithHTTPHeader(ctx, http.Header{"Prefer": []string{"return-no-content"}})
}

const maxConflictRetries = 50

// backoff sleeps a random, growing time (at most 50 ms) so contending writers spread out.
func backoff(ctx context.Context, attempt int) {
	d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
	select {
	case <-ctx.Done():
	case <-time.After(min(d, 50*time.Millisecond)):
	}
}

// Export implements store.Metadata (a table scan; meant for the local replicator).
func (m *Meta) Export(ctx context.Context, region string, since int64) ([]store.Row, error) {
	rows, err := m.query(ctx, fmt.Sprintf("V gt %dL", since))
	if err != nil {
		return nil, err
	}
	out := rows[:0]
	for _, r := range rows {
		if region == "" || strings.HasSuffix(r.Key, store.KeySep+region) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Import implements store.Metadata.
func (m *Meta) Import(ctx context.Context, rows []store.Row) (int, error) {
	n := 0
	for _, r := range rows {
		for attempt := 0; ; attempt++ {
			resp, err := m.b.table.GetEntity(ctx, r.Partition, r.Key, nil)
			var etag *azcore.ETag
			if err == nil {
				cur, derr := decodeEntity(resp.Value)
				if derr != nil {
					return n, derr
				}
				if cur.Version >= r.Version {
					break
				}
				etag = &resp.ETag
			} else if status(err) != http.StatusNotFound {
				return n, fmt.Errorf("import row %s/%s: %w", r.Partition, r.Key, classify(err))
			}
			body, err := encodeEntity(r)
			if err != nil {
				return n, err
			}
			if etag == nil {
				_, err = m.b.table.AddEntity(noEcho(ctx), body, nil)
			} else {
				_, err = m.b.table.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: etag, UpdateMode: aztables.UpdateModeReplace})
			}
			if err == nil {
				n++
				break
			}
			if s := status(err); (s == http.StatusConflict || s == http.StatusPreconditionFailed) && attempt < maxConflictRetries {
				backoff(ctx, attempt)
				continue
			}
			return n, fmt.Errorf("import row %s/%s: %w", r.Partition, r.Key, classify(err))
		}
	}
	return n, nil
}

// Blobs stores audio in one container.
type Blobs struct{ b *Backend }

// Put implements store.Blobs.
func (s *Blobs) Put(ctx context.Context, name string, data []byte) error {
	if _, err := s.b.blobs.UploadBuffer(ctx, s.b.audio, name, data, nil); err != nil {
		return fmt.Errorf("put blob %s: %w", name, classify(err))
	}
	return nil
}

// Get implements store.Blobs.
func (s *Blobs) Get(ctx context.Context, name string) ([]byte, error) {
	resp, err := s.b.blobs.DownloadStream(ctx, s.b.audio, name, nil)
	if err != nil {
		return nil, fmt.Errorf("get blob %s: %w", name, classify(err))
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if resp.ContentLength != nil {
		buf.Grow(int(*resp.ContentLength))
	}
	if _, err := io.Copy(&buf, resp.Body); err != nil {
		return nil, fmt.Errorf("get blob %s: %w: %w", name, store.ErrUnavailable, err)
	}
	return buf.Bytes(), nil
}

// Delete implements store.Blobs.
func (s *Blobs) Delete(ctx context.Context, name string) error {
	if _, err := s.b.blobs.DeleteBlob(ctx, s.b.audio, name, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("delete blob %s: %w", name, classify(err))
	}
	return nil
}

// List implements store.Blobs.
func (s *Blobs) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	pager := s.b.blobs.NewListBlobsFlatPager(s.b.audio, &azblob.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list blobs %s: %w", prefix, classify(err))
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name != nil {
				names = append(names, *it.Name)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// Queue is a Storage Queue. Text is base64-encoded on the wire (queue messages must be valid
// XML text), so callers get MaxQueueMessage bytes of arbitrary text.
type Queue struct{ q *azqueue.QueueClient }

// Send implements store.Queue.
func (q *Queue) Send(ctx context.Context, text string) error {
	if len(text) > store.MaxQueueMessage {
		return fmt.Errorf("queue message of %d bytes exceeds %d", len(text), store.MaxQueueMessage)
	}
	if _, err := q.q.EnqueueMessage(ctx, base64.StdEncoding.EncodeToString([]byte(text)), nil); err != nil {
		return fmt.Errorf("enqueue: %w", classify(err))
	}
	return nil
}

// Receive implements store.Queue.
func (q *Queue) Receive(ctx context.Context, limit int, visibility time.Duration) ([]store.QueueMessage, error) {
	n := int32(min(max(limit, 1), 32))
	vis := int32(max(1, int((visibility+time.Second-1)/time.Second))) // whole seconds, at least 1
	resp, err := q.q.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: &n, VisibilityTimeout: &vis})
	if err != nil {
		return nil, fmt.Errorf("dequeue: %w", classify(err))
	}
	var out []store.QueueMessage
	for _, m := range resp.Messages {
		if m == nil || m.MessageID == nil || m.PopReceipt == nil || m.MessageText == nil {
			continue
		}
		text, err := base64.StdEncoding.DecodeString(*m.MessageText)
		if err != nil {
			text = []byte(*m.MessageText) // written by something else; pass it on as is
		}
		qm := store.QueueMessage{ID: *m.MessageID, PopReceipt: *m.PopReceipt, Text: string(text)}
		if m.DequeueCount != nil {
			qm.DequeueCount = *m.DequeueCount
		}
		out = append(out, qm)
	}
	return out, nil
}

// Delete implements store.Queue.
func (q *Queue) Delete(ctx context.Context, m store.QueueMessage) error {
	if _, err := q.q.DeleteMessage(ctx, m.ID, m.PopReceipt, nil); err != nil {
		return fmt.Errorf("delete queue message: %w", classify(err))
	}
	return nil
}

// State is the stamp's state blob.
type State struct{ b *Backend }

// Present implements store.State.
func (s *State) Present(ctx context.Context) (bool, error) {
	_, err := s.b.blobs.ServiceClient().NewContainerClient(s.b.stateCont).NewBlobClient(s.b.stateBlob).GetProperties(ctx, nil)
	if err == nil {
		return true, nil
	}
	if status(err) == http.StatusNotFound {
		return false, nil
	}
	return false, fmt.Errorf("state blob %s/%s: %w", s.b.stateCont, s.b.stateBlob, classify(err))
}

// Write implements store.State.
func (s *State) Write(ctx context.Context) error {
	if _, err := s.b.blobs.UploadBuffer(ctx, s.b.stateCont, s.b.stateBlob, contract.InServiceBody, nil); err != nil {
		return fmt.Errorf("write state blob: %w", classify(err))
	}
	return nil
}

// Remove implements store.State.
func (s *State) Remove(ctx context.Context) error {
	if _, err := s.b.blobs.DeleteBlob(ctx, s.b.stateCont, s.b.stateBlob, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("remove state blob: %w", classify(err))
	}
	return nil
}
