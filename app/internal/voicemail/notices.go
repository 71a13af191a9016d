package voicemail

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// maxHeldNotices bounds the notifications waiting for IMAP visibility; beyond it they are
// dropped with a warning, like sends beyond maxAnnouncing.
const maxHeldNotices = 10000

// heldNotices delays deposit notifications until a due time, in one goroutine that runs only
// while some are held. Due times are the deposit time plus a constant, clamped to at most the
// delay from now, so they arrive almost in order and a FIFO serves: a notice behind a later
// one waits at most that much longer, never less than its own due time.
type heldNotices struct {
	now   func() time.Time
	delay time.Duration
	log   *slog.Logger

	mu       sync.Mutex
	queue    []heldNotice
	running  bool
	flushing bool          // set by flush: everything held goes out at once
	wake     chan struct{} // buffer 1: a flush started
}

type heldNotice struct {
	m    Message
	due  time.Time
	send func(Message)
}

func newHeldNotices(now func() time.Time, delay time.Duration, log *slog.Logger) *heldNotices {
	return &heldNotices{now: now, delay: delay, log: log, wake: make(chan struct{}, 1)}
}

// hold calls send(m) at due (at the latest delay from now; at once while flushing).
func (h *heldNotices) hold(m Message, due time.Time, send func(Message)) {
	h.mu.Lock()
	if h.flushing {
		h.mu.Unlock()
		send(m)
		return
	}
	if len(h.queue) >= maxHeldNotices {
		h.mu.Unlock()
		h.log.Warn("notifications held for IMAP visibility at their bound; notification dropped", "mailbox", m.Mailbox, "id", m.ID)
		return
	}
	if latest := h.now().Add(h.delay); due.After(latest) {
		due = latest // a deposit time in the future (a client's X-Received) does not hold it longer
	}
	h.queue = append(h.queue, heldNotice{m: m, due: due, send: send})
	if !h.running {
		h.running = true
		go h.run()
	}
	h.mu.Unlock()
}

func (h *heldNotices) run() {
	var timer *time.Timer
	for {
		h.mu.Lock()
		if len(h.queue) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		next := h.queue[0]
		wait := next.due.Sub(h.now())
		if h.flushing || wait <= 0 {
			h.queue = h.queue[1:]
			h.mu.Unlock()
			next.send(next.m)
			continue
		}
		h.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-h.wake:
			timer.Stop()
		}
	}
}

// flush sends every held notice now and returns once none is held, or when ctx ends.
func (h *heldNotices) flush(ctx context.Context) error {
	h.mu.Lock()
	h.flushing = true
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		h.mu.Lock()
		idle := !h.running && len(h.queue) == 0
		h.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
