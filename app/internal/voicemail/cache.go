package voicemail

import (
	"sync"

	"github.com/voicemail-platform/voicemail/app/internal/crdt"
)

// outageCache holds the last merged view of each mailbox read, so deposits can still be
// checked against the mailbox's limits while the metadata store is unavailable. It is only a
// fallback: entries are dropped arbitrarily when it is full. Safe for concurrent use.
type outageCache struct {
	mu    sync.Mutex
	boxes map[string]cachedBox
}

type cachedBox struct {
	mb    Mailbox
	count int
}

const maxCache = 10000

func newOutageCache() *outageCache { return &outageCache{boxes: map[string]cachedBox{}} }

// remember records the mailbox as doc shows it.
func (c *outageCache) remember(number string, doc crdt.Doc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.boxes) >= maxCache {
		for k := range c.boxes { // drop an arbitrary entry; the cache is only an outage fallback
			delete(c.boxes, k)
			break
		}
	}
	c.boxes[number] = cachedBox{mb: toMailbox(number, doc.Mailbox), count: len(doc.VisibleIDs())}
}

func (c *outageCache) forget(number string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.boxes, number)
}

func (c *outageCache) get(number string) (cachedBox, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.boxes[number]
	return b, ok
}

// deposited counts a message stored in a cached mailbox.
func (c *outageCache) deposited(number string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.boxes[number]; ok {
		b.count++
		c.boxes[number] = b
	}
}

// deleted uncounts a message deleted from a cached mailbox.
func (c *outageCache) deleted(number string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.boxes[number]; ok && b.count > 0 {
		b.count--
		c.boxes[number] = b
	}
}
