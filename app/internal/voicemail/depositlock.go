package voicemail

import (
	"context"
	"sync"
)

// mailboxLocks admits deposits into one mailbox one at a time within this process, so the
// message count a deposit checks against maxMessages includes every deposit admitted before
// it (Dovecot's quota check holds the mailbox lock for the same reason). Deposits into
// different mailboxes do not wait for each other.
//
// Across processes there is no lock: stamps and regions write their own CRDT rows, and a
// cross-region lock would stop deposits whenever a region is cut off. Each process admits at
// most the room it sees, so a mailbox can exceed its limit only by deposits that other
// processes admitted in the same moment.
type mailboxLocks struct {
	mu sync.Mutex
	m  map[string]*mailboxLock
}

type mailboxLock struct {
	ch   chan struct{} // holds one token while the mailbox is locked
	refs int
}

// lock waits for the mailbox (or ctx) and returns its unlock.
func (l *mailboxLocks) lock(ctx context.Context, number string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*mailboxLock{}
	}
	e := l.m[number]
	if e == nil {
		e = &mailboxLock{ch: make(chan struct{}, 1)}
		l.m[number] = e
	}
	e.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, number)
		}
		l.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
