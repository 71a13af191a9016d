package imap

import (
	clist "container/list"
	"sync"
)

// partCache keeps the most recently fetched audio parts, base64-encoded as FETCH sends them,
// up to max bytes. A message's audio never changes (a re-recorded greeting is a new message
// with its own key), so an entry never goes stale; serving it again skips the blob read and
// the encoding, which are most of the CPU and all of the store traffic of a fetch.
type partCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order *clist.List // of *partEntry, most recently used first
	byKey map[string]*clist.Element
}

type partEntry struct {
	key  string
	data []byte
}

func newPartCache(max int64) *partCache {
	if max <= 0 {
		return nil
	}
	return &partCache{max: max, order: clist.New(), byKey: map[string]*clist.Element{}}
}

// get returns the encoded part stored under key; a nil cache holds nothing.
func (c *partCache) get(key string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*partEntry).data, true
}

// put stores data under key, evicting the least recently used parts beyond max.
func (c *partCache) put(key string, data []byte) {
	if c == nil || int64(len(data)) > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; ok {
		return
	}
	c.byKey[key] = c.order.PushFront(&partEntry{key, data})
	c.size += int64(len(data))
	for c.size > c.max {
		last := c.order.Back()
		pe := last.Value.(*partEntry)
		c.order.Remove(last)
		delete(c.byKey, pe.key)
		c.size -= int64(len(pe.data))
	}
}
