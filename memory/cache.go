package memory

import (
	"container/list"
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"time"
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

// appendCacheKey appends the key of q's answer in tenant t at change count gen: the
// same bytes for equal queries, different ones for any two that differ (strings are
// quoted, so no two field lists run together).
func appendCacheKey(b []byte, t Tenant, gen uint64, q *Query) []byte {
	b = appendTenantKey(b, t)
	for _, s := range []string{q.Context, q.Scope.UserID, q.Scope.AgentID, q.Scope.SessionID} {
		b = strconv.AppendQuote(b, s)
	}
	b = strconv.AppendUint(b, gen, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(q.Max), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(math.Float32bits(q.Threshold)), 10)
	if len(q.MetadataEq) > 0 || len(q.MetadataIn) > 0 || q.CreatedAfter != nil || q.CreatedBefore != nil {
		// json.Marshal sorts map keys, so equal filters give equal bytes.
		raw, _ := json.Marshal(struct {
			Eq            map[string]any
			In            map[string][]any
			After, Before *time.Time
		}{q.MetadataEq, q.MetadataIn, q.CreatedAfter, q.CreatedBefore})
		b = append(append(b, ' '), raw...)
	}
	return b
}

// appendTenantKey appends what every cache key of tenant t starts with.
func appendTenantKey(b []byte, t Tenant) []byte {
	return strconv.AppendQuote(strconv.AppendQuote(b, t.OrgID), string(t.Mode))
}

func (c *responseCache) get(key []byte) ([]scored, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[string(key)]; ok {
		c.ll.MoveToFront(el)
		c.hits++
		return el.Value.(*cacheEntry).hits, true
	}
	c.misses++
	return nil, false
}

func (c *responseCache) put(k []byte, hits []scored) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[string(k)]; ok {
		el.Value.(*cacheEntry).hits = hits
		c.ll.MoveToFront(el)
		return
	}
	key := string(k)
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
