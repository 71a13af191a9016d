package voicemail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/crdt"
	"github.com/voicemail-platform/voicemail/app/internal/store"
)

// Defaults for Options and for mailboxes provisioned without limits.
const (
	DefaultMaxMessageSeconds = 180
	DefaultMaxMessages       = 100
	DefaultLanguage          = "en"
	MaxGreetingSeconds       = 300
	DefaultStoreTimeout      = 2 * time.Second
	// durationGrace tolerates recorders that stop a packet or two after the limit.
	durationGrace = time.Second
)

// Observer receives counts for metrics. Every method must be cheap and safe for concurrent use.
type Observer interface {
	// Deposited counts an accepted deposit; path is "direct" or "queue".
	Deposited(path string)
	// Drained counts queued deposits that reached the store; dropped counts discarded queue
	// messages (health checks, poison messages).
	Drained(stored, dropped int)
}

// Options configure a Service.
type Options struct {
	Backend *store.Backend
	// Region is this region's id; it names the rows this service writes ("<entity>~<region>").
	Region string
	// Node breaks ties between clocks of writers in the same region (default Region); give each
	// stamp its own, for example "<region>/<stamp>".
	Node   string
	Logger *slog.Logger
	// Now is the wall clock (default time.Now).
	Now func() time.Time
	// AllowGuessablePINs accepts PINs like 0000, 1234 or the mailbox number (refused by default).
	AllowGuessablePINs bool
	// Auth is how wrong PINs are paid for (per-source penalty, mailbox slow lane).
	Auth AuthPolicy
	// DrainInterval is how often Run drains the deposit queue (default 2 s); DrainVisibility is
	// how long a received queue message stays hidden from other drainers (default 30 s).
	DrainInterval   time.Duration
	DrainVisibility time.Duration
	// WatchInterval is how often Run polls subscribed mailboxes for changes made by other
	// processes (default 5 s).
	WatchInterval time.Duration
	// StoreTimeout bounds each store call on the deposit path (default 2 s). A store that hangs
	// (a black hole rather than a refused connection) would otherwise hold a deposit for the
	// SDK's per-try timeout and retries; on the deadline the deposit takes the queue path.
	StoreTimeout time.Duration
	Observer     Observer
}

var regionRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// Service is the voicemail use-case layer. Safe for concurrent use.
type Service struct {
	b      *store.Backend
	region string
	clock  *crdt.Clock
	log    *slog.Logger
	now    func() time.Time
	opt    Options

	subsMu   sync.Mutex
	subs     map[string]map[chan Event]struct{}
	watchMu  sync.Mutex              // orders watcher and publish reads of a mailbox
	seen     map[string]mailboxState // last state announced per subscribed mailbox
	subSince map[string]time.Time    // when the mailbox's first subscriber arrived

	announcing chan struct{} // bounds notification sends in flight

	cacheMu sync.Mutex
	cache   map[string]cachedBox // last merged view per mailbox, for the metadata-outage path

	auth      AuthPolicy
	penalties *penalties
	loginMu   keyedMutex // one PIN evaluation at a time per mailbox
	dummyHash string     // verified against for unknown numbers, so they cost what known ones do
}

type cachedBox struct {
	mb    Mailbox
	count int
}

const (
	maxCache      = 10000
	maxAnnouncing = 64
)

// New builds a Service. Call Run to drain the deposit queue in the background.
func New(opt Options) (*Service, error) {
	if opt.Backend == nil || opt.Backend.Meta == nil || opt.Backend.Blobs == nil || opt.Backend.Queue == nil {
		return nil, errors.New("voicemail: backend with metadata, blobs and queue required")
	}
	if !regionRe.MatchString(opt.Region) {
		return nil, fmt.Errorf("voicemail: region %q must match %s", opt.Region, regionRe)
	}
	if opt.Node == "" {
		opt.Node = opt.Region
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	opt.Auth = opt.Auth.withDefaults()
	dummy, err := hashPIN("0000")
	if err != nil {
		return nil, err
	}
	if opt.DrainInterval <= 0 {
		opt.DrainInterval = 2 * time.Second
	}
	if opt.WatchInterval <= 0 {
		opt.WatchInterval = 5 * time.Second
	}
	if opt.DrainVisibility <= 0 {
		opt.DrainVisibility = 30 * time.Second
	}
	if opt.StoreTimeout <= 0 {
		opt.StoreTimeout = DefaultStoreTimeout
	}
	return &Service{
		b:          opt.Backend,
		region:     opt.Region,
		clock:      crdt.NewClock(opt.Node, opt.Now),
		log:        opt.Logger,
		now:        opt.Now,
		opt:        opt,
		subs:       map[string]map[chan Event]struct{}{},
		announcing: make(chan struct{}, maxAnnouncing),
		seen:       map[string]mailboxState{},
		subSince:   map[string]time.Time{},
		cache:      map[string]cachedBox{},
		auth:       opt.Auth,
		penalties:  newPenalties(opt.Auth, opt.Now),
		dummyHash:  dummy,
	}, nil
}

// Region is the region id this service writes as.
func (s *Service) Region() string { return s.region }

// Backend is the storage the service runs on (the health checks probe it).
func (s *Service) Backend() *store.Backend { return s.b }

var numberRe = regexp.MustCompile(`^\+?[0-9]{3,20}$`)

// Normalize returns the one form under which a mailbox number is stored, or ErrInvalid.
func (s *Service) Normalize(number string) (string, error) {
	return number, checkNumber(number)
}

func checkNumber(number string) error {
	if !numberRe.MatchString(number) {
		return fmt.Errorf("%w: mailbox number %q must be 3-20 digits with an optional leading +", ErrInvalid, number)
	}
	return nil
}

// Row entities.
const (
	entBox  = "box"
	entLock = "lock"
	entMsg  = "m:"
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

// bounded runs one store call under StoreTimeout. When that deadline (and not the caller's)
// ends the call, the error is ErrUnavailable, so callers treat a hung store like a failed one.
func (s *Service) bounded(ctx context.Context, fn func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, s.opt.StoreTimeout)
	defer cancel()
	err := fn(cctx)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: no answer within %s: %w", ErrUnavailable, s.opt.StoreTimeout, err)
	}
	return err
}

// load reads every region's rows of a mailbox and merges them.
func (s *Service) load(ctx context.Context, number string) (crdt.Doc, error) {
	rows, err := s.b.Meta.List(ctx, number, "")
	if err != nil {
		return crdt.Doc{}, wrapStore("read mailbox", err)
	}
	return s.decode(rows)
}

func (s *Service) decode(rows []store.Row) (crdt.Doc, error) {
	doc := crdt.Doc{Messages: map[string]crdt.Message{}, Locks: map[string]crdt.Lock{}}
	var latest crdt.Timestamp
	for _, r := range rows {
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
	s.clock.Observe(latest)
	return doc, nil
}

// update read-modify-writes this region's row for entity, decoding into T.
func update[T any](ctx context.Context, s *Service, number, entity string, fn func(*T) error) error {
	_, err := s.b.Meta.Update(ctx, number, store.RowKey(entity, s.region), func(cur []byte) ([]byte, error) {
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

func toMailbox(number string, m crdt.Mailbox) Mailbox {
	return Mailbox{
		Number:            number,
		DisplayName:       m.DisplayName.V,
		Language:          m.Language.V,
		ActiveGreeting:    GreetingKind(m.ActiveGreeting.V),
		MaxMessageSeconds: m.MaxMessageSeconds.V,
		MaxMessages:       m.MaxMessages.V,
		Notify:            Notification{MWITarget: m.MWITarget.V, Email: m.Email.V},
		Created:           m.Provisioned.Time(),
	}
}

func toMessage(number, id string, m crdt.Message) Message {
	msg := Message{ID: id, Mailbox: number, Folder: FolderNew, Heard: m.Heard.V}
	if m.Folder.V != "" {
		msg.Folder = Folder(m.Folder.V)
	}
	if m.Tombstoned() {
		msg.Folder = FolderDeleted
	}
	for _, f := range ClientFlags {
		if m.Flags[f].V {
			msg.Flags = append(msg.Flags, f)
		}
	}
	if i := m.Info; i != nil {
		msg.Caller = i.Caller
		msg.Received = time.UnixMilli(i.Received).UTC()
		msg.Duration = time.Duration(i.DurationMs) * time.Millisecond
		msg.DurationMs = i.DurationMs
		msg.Seconds = (i.DurationMs + 500) / 1000
		msg.Size = i.Size
		msg.AudioRef = i.AudioRef
		msg.AudioRegion = i.Origin
		if msg.AudioRegion == "" {
			msg.AudioRegion = MessageRegion(id)
		}
	}
	return msg
}

// mailboxDoc loads a mailbox that must exist.
func (s *Service) mailboxDoc(ctx context.Context, number string) (crdt.Doc, error) {
	if err := checkNumber(number); err != nil {
		return crdt.Doc{}, err
	}
	doc, err := s.load(ctx, number)
	if err != nil {
		return doc, err
	}
	if !doc.Mailbox.Exists() {
		return doc, fmt.Errorf("mailbox %s: %w", number, ErrNotFound)
	}
	s.remember(number, doc)
	return doc, nil
}

func (s *Service) remember(number string, doc crdt.Doc) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if len(s.cache) >= maxCache {
		for k := range s.cache { // drop an arbitrary entry; the cache is only an outage fallback
			delete(s.cache, k)
			break
		}
	}
	s.cache[number] = cachedBox{mb: toMailbox(number, doc.Mailbox), count: len(doc.VisibleIDs())}
}

func (s *Service) forget(number string) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	delete(s.cache, number)
}

func (s *Service) cached(number string) (cachedBox, bool) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	c, ok := s.cache[number]
	return c, ok
}

func summary(doc crdt.Doc) Summary {
	var sum Summary
	for _, id := range doc.VisibleIDs() {
		if doc.Messages[id].Heard.V {
			sum.Old++
		} else {
			sum.New++
		}
	}
	return sum
}

// Subscribe returns a channel of the mailbox's events, delivered after the change is stored,
// and a function that cancels the subscription. A slow reader misses events rather than
// blocking writers; the channel has room for 64.
func (s *Service) Subscribe(number string) (<-chan Event, func()) {
	ch := make(chan Event, 64)
	s.subsMu.Lock()
	if s.subs[number] == nil {
		s.subs[number] = map[chan Event]struct{}{}
		s.subSince[number] = s.now().Add(-time.Second) // clock slack; a repeat announcement is harmless
	}
	s.subs[number][ch] = struct{}{}
	s.subsMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.subsMu.Lock()
			delete(s.subs[number], ch)
			if len(s.subs[number]) == 0 {
				delete(s.subs, number)
			}
			s.subsMu.Unlock()
		})
	}
}

func (s *Service) hasSubscribers(number string) bool {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	return len(s.subs[number]) > 0
}

// publish sends an event to the mailbox's subscribers, computing the summary from a fresh read
// (only when someone listens).
func (s *Service) publish(ctx context.Context, number string, kind EventKind, id string) {
	if !s.hasSubscribers(number) {
		return
	}
	ev := Event{Mailbox: number, Kind: kind, MessageID: id, Local: true}
	s.watchMu.Lock() // read and record atomically with respect to the watcher
	defer s.watchMu.Unlock()
	var doc crdt.Doc
	err := s.bounded(ctx, func(ctx context.Context) (err error) {
		doc, err = s.load(ctx, number)
		return err
	})
	if err == nil {
		ev.Summary = summary(doc)
		s.subsMu.Lock()
		s.seen[number] = fingerprint(doc) // the watcher need not announce this change again
		s.subsMu.Unlock()
	} else if c, ok := s.cached(number); ok {
		ev.Summary = Summary{New: c.count}
	}
	s.notify(ev)
}

func (s *Service) notify(ev Event) {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	for ch := range s.subs[ev.Mailbox] {
		select {
		case ch <- ev:
		default:
			s.log.Warn("subscriber too slow, event dropped", "mailbox", ev.Mailbox, "kind", ev.Kind)
		}
	}
}

// mailboxState is what the watcher compares between polls: visible ids with their flags.
type mailboxState map[string]string

func fingerprint(doc crdt.Doc) mailboxState {
	st := mailboxState{}
	for _, id := range doc.VisibleIDs() {
		m := doc.Messages[id]
		st[id] = fmt.Sprintf("%t/%s", m.Heard.V, m.Folder.V)
	}
	return st
}

// watch polls the mailboxes that have subscribers and announces changes made elsewhere (other
// stamps, other regions after replication), so IMAP IDLE and MWI see them too. Changes made
// by this process were already announced by publish and are not repeated.
func (s *Service) watch(ctx context.Context) {
	s.subsMu.Lock()
	numbers := make([]string, 0, len(s.subs))
	for n := range s.subs {
		numbers = append(numbers, n)
	}
	for n := range s.seen {
		if s.subs[n] == nil {
			delete(s.seen, n)
		}
	}
	for n := range s.subSince {
		if s.subs[n] == nil {
			delete(s.subSince, n)
		}
	}
	s.subsMu.Unlock()
	for _, number := range numbers {
		s.watchOne(ctx, number)
	}
}

func (s *Service) watchOne(ctx context.Context, number string) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	doc, err := s.load(ctx, number)
	if err != nil {
		return
	}
	now := fingerprint(doc)
	s.subsMu.Lock()
	before, known := s.seen[number]
	since := s.subSince[number]
	s.seen[number] = now
	s.subsMu.Unlock()
	if !known {
		// First look: messages deposited since the subscription started are new to the
		// subscriber; anything older it saw when it read the mailbox.
		before = mailboxState{}
		for id, flags := range now {
			if t, ok := MessageTime(id); ok && t.Before(since) {
				before[id] = flags
			}
		}
	}
	sum := summary(doc)
	changed := false
	var added []string
	for id, flags := range now {
		old, ok := before[id]
		if !ok {
			added = append(added, id)
		} else if old != flags {
			changed = true
		}
	}
	for id := range before {
		if _, ok := now[id]; !ok {
			changed = true // deleted elsewhere
		}
	}
	sort.Strings(added)
	for _, id := range added {
		s.notify(Event{Mailbox: number, Kind: EventDeposited, MessageID: id, Summary: sum})
	}
	if changed {
		s.notify(Event{Mailbox: number, Kind: EventChanged, Summary: sum})
	}
}

// sortNewestFirst orders message ids by deposit time descending (ids embed the time).
func sortNewestFirst(ids []string) {
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
}
