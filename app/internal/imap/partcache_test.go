package imap

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPartCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newPartCache(400)
	part := func(b byte) []byte { return bytes.Repeat([]byte{b}, 100) }
	c.put("a", part('a'))
	c.put("b", part('b'))
	c.put("c", part('c'))
	c.put("d", part('d'))
	_, ok := c.get("a") // a is now the most recently used
	assert.True(t, ok)
	c.put("e", part('e')) // evicts b, the least recently used
	_, ok = c.get("b")
	assert.False(t, ok)
	got, ok := c.get("a")
	assert.True(t, ok)
	assert.Equal(t, part('a'), got)
	assert.EqualValues(t, 400, c.size)
	c.put("big", make([]byte, 101)) // more than a quarter of the cache: not kept
	_, ok = c.get("big")
	assert.False(t, ok)

	var off *partCache = newPartCache(-1)
	off.put("a", part('a'))
	_, ok = off.get("a")
	assert.False(t, ok, "a disabled cache holds nothing")
}
