// Package crdt holds the conflict-free replicated state of mailboxes and messages. It has no I/O:
// the service reads every region's rows, decodes them into these types and merges them.
//
// Rules: each region writes only its own rows; settings are last-writer-wins
// registers ordered by hybrid logical clocks; the message set only grows; a deletion tombstone
// always wins; flags merge by LWW on the same clock, so every replica picks the same value.
// Every Merge here is commutative, associative and idempotent (property-tested).
package crdt

import (
	"cmp"
	"fmt"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: wall milliseconds, a logical counter for events
// within the same millisecond (or when the wall clock lags a clock we observed), and the writer's
// node id as the final tie-breaker so two writers never produce equal timestamps.
type Timestamp struct {
	Wall    int64  `json:"w,omitempty"`
	Logical uint32 `json:"l,omitempty"`
	Node    string `json:"n,omitempty"`
}

// Compare orders timestamps totally: wall, then logical, then node.
func (a Timestamp) Compare(b Timestamp) int {
	if c := cmp.Compare(a.Wall, b.Wall); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Logical, b.Logical); c != 0 {
		return c
	}
	return cmp.Compare(a.Node, b.Node)
}

// After reports a > b.
func (a Timestamp) After(b Timestamp) bool { return a.Compare(b) > 0 }

// IsZero reports an unset timestamp.
func (a Timestamp) IsZero() bool { return a == Timestamp{} }

// Time is the wall-clock part.
func (a Timestamp) Time() time.Time { return time.UnixMilli(a.Wall).UTC() }

func (a Timestamp) String() string { return fmt.Sprintf("%d.%d@%s", a.Wall, a.Logical, a.Node) }

// Max returns the later of a and b.
func Max(a, b Timestamp) Timestamp {
	if b.After(a) {
		return b
	}
	return a
}

// Clock is a hybrid logical clock for one node. Safe for concurrent use.
type Clock struct {
	mu   sync.Mutex
	node string
	now  func() time.Time
	last Timestamp
}

// NewClock returns a clock for node; now defaults to time.Now.
func NewClock(node string, now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{node: node, now: now}
}

// Now returns a timestamp later than every timestamp this clock issued or observed.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	wall := c.now().UnixMilli()
	if wall > c.last.Wall {
		c.last = Timestamp{Wall: wall, Node: c.node}
	} else {
		c.last = Timestamp{Wall: c.last.Wall, Logical: c.last.Logical + 1, Node: c.node}
	}
	return c.last
}

// Observe moves the clock past a timestamp read from another node, so the next local write
// orders after everything this node has seen (causality survives clock skew).
func (c *Clock) Observe(ts Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ts.Wall > c.last.Wall || (ts.Wall == c.last.Wall && ts.Logical > c.last.Logical) {
		c.last = Timestamp{Wall: ts.Wall, Logical: ts.Logical, Node: c.node}
	}
}
