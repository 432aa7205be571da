package memory

import (
	"container/list"
	"encoding/json"
	"sync"
)

// responseCache remembers the answers to recent retrievals. Its keys include the
// tenant's change counter, so any write to the tenant makes its old entries
// unreachable; they age out of the LRU.
type responseCache struct {
	mu     sync.Mutex
	max    int
	ll     *list.List
	items  map[string]*list.Element
	hits   uint64
	misses uint64
}

type cacheEntry struct {
	key  string
	hits []scored
}

func newResponseCache(max int) *responseCache {
	return &responseCache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func cacheKey(t Tenant, gen uint64, q Query) string {
	// json.Marshal sorts map keys, so equal queries give equal keys.
	raw, _ := json.Marshal(struct {
		T   Tenant
		Gen uint64
		Q   Query
	}{t, gen, q})
	return string(raw)
}

func (c *responseCache) get(key string) ([]scored, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		c.hits++
		return el.Value.(*cacheEntry).hits, true
	}
	c.misses++
	return nil, false
}

func (c *responseCache) put(key string, hits []scored) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value.(*cacheEntry).hits = hits
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key, hits})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
}

// CacheStats reports the response cache's hits and misses.
func (e *Engine) CacheStats() (hits, misses uint64) {
	e.cache.mu.Lock()
	defer e.cache.mu.Unlock()
	return e.cache.hits, e.cache.misses
}
