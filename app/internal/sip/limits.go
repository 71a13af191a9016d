package sip

import (
	"net/netip"
	"sync"
	"time"
)

// pike limits how fast one untrusted source may start dialogs (INVITE and SUBSCRIBE), as
// Kamailio's pike module does: a token bucket per source address, refilled at rate per second
// up to burst. Trusted peers carry everyone's calls and are not limited here; their callers
// are bounded by concurrent calls per asserted caller instead. The table is bounded: idle
// sources are forgotten first, then the one seen longest ago.
type pike struct {
	mu    sync.Mutex
	rate  float64
	burst float64
	m     map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

const maxPikeSources = 65536

func newPike(rate, burst int) *pike {
	return &pike{rate: float64(rate), burst: float64(burst), m: map[netip.Addr]*bucket{}}
}

// allow takes a token for src; false when the source is over its rate.
func (p *pike) allow(src netip.Addr, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.m[src]
	if b == nil {
		if len(p.m) >= maxPikeSources {
			p.evictLocked(now)
		}
		b = &bucket{tokens: p.burst, at: now}
		p.m[src] = b
	}
	b.tokens = min(p.burst, b.tokens+now.Sub(b.at).Seconds()*p.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (p *pike) evictLocked(now time.Time) {
	full := time.Duration(p.burst/p.rate*float64(time.Second)) + time.Second
	var oldest netip.Addr
	var at time.Time
	for k, b := range p.m {
		if now.Sub(b.at) > full {
			delete(p.m, k)
		} else if at.IsZero() || b.at.Before(at) {
			oldest, at = k, b.at
		}
	}
	if len(p.m) >= maxPikeSources {
		delete(p.m, oldest)
	}
}

// counts is a bounded count of things held per key (calls per source or caller,
// subscriptions per mailbox or source).
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

// take adds one for key unless it already holds limit; the returned function gives it back.
func (c *counts) take(key string, limit int) (func(), bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	if c.m[key] >= limit {
		return nil, false
	}
	c.m[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if c.m[key]--; c.m[key] <= 0 {
				delete(c.m, key)
			}
			c.mu.Unlock()
		})
	}, true
}
