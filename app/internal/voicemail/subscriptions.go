package voicemail

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/crdt"
)

// subscriptions fans a mailbox's events out to its subscribers and remembers, per subscribed
// mailbox, the state last announced, so the watcher does not repeat what publish said. Safe
// for concurrent use.
type subscriptions struct {
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	subs  map[string]map[chan Event]struct{}
	seen  map[string]mailboxState // last state announced per subscribed mailbox
	since map[string]time.Time    // when the mailbox's first subscriber arrived
}

func newSubscriptions(log *slog.Logger, now func() time.Time) *subscriptions {
	return &subscriptions{
		log:   log,
		now:   now,
		subs:  map[string]map[chan Event]struct{}{},
		seen:  map[string]mailboxState{},
		since: map[string]time.Time{},
	}
}

// Subscribe returns a channel of the mailbox's events, delivered after the change is stored,
// and a function that cancels the subscription. A slow reader misses events rather than
// blocking writers; the channel has room for 64.
func (s *Service) Subscribe(number string) (<-chan Event, func()) {
	if n, err := s.Normalize(number); err == nil {
		number = n // events are published under the normal form
	}
	return s.subs.subscribe(number)
}

func (h *subscriptions) subscribe(number string) (<-chan Event, func()) {
	ch := make(chan Event, 64)
	h.mu.Lock()
	if h.subs[number] == nil {
		h.subs[number] = map[chan Event]struct{}{}
		h.since[number] = h.now().Add(-time.Second) // clock slack; a repeat announcement is harmless
	}
	h.subs[number][ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs[number], ch)
			if len(h.subs[number]) == 0 {
				delete(h.subs, number)
			}
			h.mu.Unlock()
		})
	}
}

func (h *subscriptions) has(number string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[number]) > 0
}

// announced records the state a subscriber was last told of.
func (h *subscriptions) announced(number string, st mailboxState) {
	h.mu.Lock()
	h.seen[number] = st
	h.mu.Unlock()
}

// observe records now as the mailbox's announced state and returns the state announced
// before (known is false on the first look) and when its first subscriber arrived.
func (h *subscriptions) observe(number string, now mailboxState) (before mailboxState, known bool, since time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	before, known = h.seen[number]
	since = h.since[number]
	h.seen[number] = now
	return before, known, since
}

// subscribed returns the mailboxes that have subscribers and forgets the state of the others.
func (h *subscriptions) subscribed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	numbers := make([]string, 0, len(h.subs))
	for n := range h.subs {
		numbers = append(numbers, n)
	}
	for n := range h.seen {
		if h.subs[n] == nil {
			delete(h.seen, n)
		}
	}
	for n := range h.since {
		if h.subs[n] == nil {
			delete(h.since, n)
		}
	}
	return numbers
}

func (h *subscriptions) notify(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[ev.Mailbox] {
		select {
		case ch <- ev:
		default:
			h.log.Warn("subscriber too slow, event dropped", "mailbox", ev.Mailbox, "kind", ev.Kind)
		}
	}
}

// publish sends an event to the mailbox's subscribers, computing the summary from a fresh read
// (only when someone listens).
func (s *Service) publish(ctx context.Context, number string, kind EventKind, id string) {
	if !s.subs.has(number) {
		return
	}
	ev := Event{Mailbox: number, Kind: kind, MessageID: id, Local: true}
	s.watcher.mu.Lock() // read and record atomically with respect to the watcher
	defer s.watcher.mu.Unlock()
	var doc crdt.Doc
	err := s.bounded(ctx, func(ctx context.Context) (err error) {
		doc, err = s.rows.load(ctx, number)
		return err
	})
	if err == nil {
		ev.Summary = summary(doc)
		s.subs.announced(number, fingerprint(doc)) // the watcher need not announce this change again
	} else if c, ok := s.cache.get(number); ok {
		ev.Summary = Summary{New: c.count}
	}
	s.subs.notify(ev)
}
