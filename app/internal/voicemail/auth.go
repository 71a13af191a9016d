package voicemail

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrThrottled is returned when a login attempt is refused without looking at the PIN: its
// source (or, during a distributed attack, the mailbox) must wait. Unwrap a *ThrottledError for
// how long.
var ErrThrottled = errors.New("too many wrong PINs; try again later")

// ThrottledError says how long to wait before the next attempt.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many wrong PINs; try again in %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) hold.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// RetryAfter is the wait an ErrThrottled asks for (at least one second), or zero.
func RetryAfter(err error) time.Duration {
	var te *ThrottledError
	if errors.As(err, &te) {
		return max(te.RetryAfter, time.Second)
	}
	return 0
}

type sourceKey struct{}

// WithSource names where a login attempt comes from: "ip:<address>" for HTTP and IMAP clients,
// "sip:<caller>" for a caller whose identity a trusted SIP peer asserted. Wrong PINs slow down
// that source (Dovecot's auth penalty), never the mailbox's owner calling from elsewhere.
// Attempts without a source share one anonymous source.
func WithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source)
}

func sourceOf(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// AuthPolicy tunes how wrong PINs are paid for. Zero fields take the defaults.
type AuthPolicy struct {
	// FreeFailures is how many wrong PINs a source may make before it must wait (default 3).
	FreeFailures int
	// PenaltyMax caps a source's wait, which doubles from one second with each further wrong
	// PIN (default 15 s, Dovecot's cap).
	PenaltyMax time.Duration
	// MailboxFailures wrong PINs on one mailbox from any sources within FailureWindow put the
	// mailbox in a slow lane: evaluations are spaced by a wait that doubles from one second up
	// to MailboxDelayMax. A distributed guesser is slowed; the owner waits at most that long.
	// Defaults 10 and 30 s.
	MailboxFailures int
	MailboxDelayMax time.Duration
	// FailureWindow forgets failures older than this (default 15 min).
	FailureWindow time.Duration
	// FailureDelay is the least time a failed login takes (default 250 ms), so that a wrong PIN
	// for a known number and any PIN for an unknown one cannot be told apart by timing.
	FailureDelay time.Duration
}

func (p AuthPolicy) withDefaults() AuthPolicy {
	if p.FreeFailures <= 0 {
		p.FreeFailures = 3
	}
	if p.PenaltyMax <= 0 {
		p.PenaltyMax = 15 * time.Second
	}
	if p.MailboxFailures <= 0 {
		p.MailboxFailures = 10
	}
	if p.MailboxDelayMax <= 0 {
		p.MailboxDelayMax = 30 * time.Second
	}
	if p.FailureWindow <= 0 {
		p.FailureWindow = 15 * time.Minute
	}
	if p.FailureDelay <= 0 {
		p.FailureDelay = 250 * time.Millisecond
	}
	return p
}

// backoff is the wait after the n-th failure past the free ones: 1 s, 2 s, 4 s ... up to max.
func backoff(n int, max time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	d := time.Second << min(n-1, 20)
	return min(d, max)
}

// maxSources bounds the per-source table; a flood of fresh sources evicts expired entries
// first and then the oldest.
const maxSources = 100000

// penalties is the per-source side of the auth policy: one attempt at a time per source (so
// parallel guesses are evaluated one after another, each seeing the previous failure), and a
// growing wait after failures. The table is per process: a stamp slows its own sources.
type penalties struct {
	mu     sync.Mutex
	policy AuthPolicy
	now    func() time.Time
	m      map[string]*penalty
}

type penalty struct {
	gate     chan struct{} // holds one token: the attempt in progress
	waiting  int
	failures int
	next     time.Time // no attempt before this
	last     time.Time
}

// maxWaiting attempts from one source may queue behind the one in progress; more are refused.
const maxWaiting = 8

func newPenalties(p AuthPolicy, now func() time.Time) *penalties {
	return &penalties{policy: p, now: now, m: map[string]*penalty{}}
}

func (ps *penalties) entry(src string) *penalty {
	e := ps.m[src]
	if e == nil {
		if len(ps.m) >= maxSources {
			ps.evictLocked()
		}
		e = &penalty{gate: make(chan struct{}, 1)}
		ps.m[src] = e
	}
	return e
}

func (ps *penalties) evictLocked() {
	now := ps.now()
	var oldest string
	var at time.Time
	for k, e := range ps.m {
		if e.waiting == 0 && len(e.gate) == 0 && now.Sub(e.last) > ps.policy.FailureWindow {
			delete(ps.m, k)
		} else if oldest == "" || e.last.Before(at) {
			oldest, at = k, e.last
		}
	}
	if len(ps.m) >= maxSources {
		delete(ps.m, oldest)
	}
}

// begin waits for the source's turn and returns a function that records the outcome. It
// refuses at once when the source must wait or too many of its attempts are queued.
func (ps *penalties) begin(ctx context.Context, src string) (func(failed bool), error) {
	ps.mu.Lock()
	e := ps.entry(src)
	if e.waiting >= maxWaiting {
		ps.mu.Unlock()
		return nil, &ThrottledError{RetryAfter: time.Second}
	}
	e.waiting++
	ps.mu.Unlock()
	select {
	case e.gate <- struct{}{}:
	case <-ctx.Done():
		ps.mu.Lock()
		e.waiting--
		ps.mu.Unlock()
		return nil, ctx.Err()
	}
	ps.mu.Lock()
	e.waiting--
	now := ps.now()
	if e.failures > 0 && now.Sub(e.last) > ps.policy.FailureWindow {
		e.failures, e.next = 0, time.Time{}
	}
	if wait := e.next.Sub(now); wait > 0 {
		ps.mu.Unlock()
		<-e.gate
		return nil, &ThrottledError{RetryAfter: wait}
	}
	ps.mu.Unlock()
	return func(failed bool) {
		ps.mu.Lock()
		now := ps.now()
		e.last = now
		if failed {
			e.failures++
			e.next = now.Add(backoff(e.failures-ps.policy.FreeFailures, ps.policy.PenaltyMax))
		} else {
			e.failures, e.next = 0, time.Time{}
		}
		ps.mu.Unlock()
		<-e.gate
	}, nil
}

// keyedMutex serialises work per key: login evaluations per mailbox (concurrent attempts on
// one stamp count their failures one after another) and deposits per mailbox (maxMessages).
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{}
	refs int
}

func (k *keyedMutex) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
