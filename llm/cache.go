package llm

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultCacheEntries is the cache size NewCached uses when given none.
const DefaultCacheEntries = 4096

// CachedEmbedder embeds each distinct text once: it keeps the most recently
// used vectors, keyed by the SHA-256 of the embedder's name and model and
// the text, and merges identical texts within a call and across concurrent
// calls into one upstream embedding. It matters most for a paid provider,
// where a re-sent memory or a repeated query costs tokens and latency.
type CachedEmbedder struct {
	inner      Embedder
	maxEntries int

	mu       sync.Mutex
	entries  map[cacheKey]*list.Element // of *cacheEntry
	recency  *list.List                 // most recently used at the front
	inflight map[cacheKey]*pendingVector

	hits, misses atomic.Uint64
}

type cacheKey [sha256.Size]byte

type cacheEntry struct {
	key cacheKey
	vec []float32
}

// pendingVector is a text that one call is embedding and others wait for.
type pendingVector struct {
	done chan struct{} // closed when vec or err is set
	vec  []float32
	err  error
}

// CacheStats counts texts served from the cache (hits, including duplicates
// within a call and texts another call was already embedding) and texts
// sent to the embedder (misses).
type CacheStats struct {
	Hits    uint64
	Misses  uint64
	Entries int
}

// NewCached wraps e in a cache of at most maxEntries vectors, or
// DefaultCacheEntries when maxEntries is not positive.
func NewCached(e Embedder, maxEntries int) *CachedEmbedder {
	if maxEntries <= 0 {
		maxEntries = DefaultCacheEntries
	}
	return &CachedEmbedder{
		inner:      e,
		maxEntries: maxEntries,
		entries:    make(map[cacheKey]*list.Element),
		recency:    list.New(),
		inflight:   make(map[cacheKey]*pendingVector),
	}
}

func (c *CachedEmbedder) Dim() int      { return c.inner.Dim() }
func (c *CachedEmbedder) Name() string  { return c.inner.Name() }
func (c *CachedEmbedder) Model() string { return c.inner.Model() }

// Unwrap returns the wrapped embedder, e.g. to reach the local embedder's
// EmbedQuery, whose corpus-weighted vectors must not be cached.
func (c *CachedEmbedder) Unwrap() Embedder { return c.inner }

// Stats returns the counters since the cache was made.
func (c *CachedEmbedder) Stats() CacheStats {
	c.mu.Lock()
	n := c.recency.Len()
	c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: n}
}

// Embed embeds texts; see EmbedWithUsage.
func (c *CachedEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, _, err := c.EmbedWithUsage(ctx, texts)
	return vecs, err
}

// EmbedWithUsage embeds the texts not in the cache with the wrapped
// embedder, in one call, and reports that call's usage: cached texts cost
// nothing. The vectors returned belong to the caller.
func (c *CachedEmbedder) EmbedWithUsage(ctx context.Context, texts []string) ([][]float32, Usage, error) {
	keys := make([]cacheKey, len(texts))
	for i, text := range texts {
		keys[i] = c.key(text)
	}

	// Sort every text into one of: found, embedded by this call (owned),
	// a repeat of an earlier text of this call, or awaited from another call.
	found := make([][]float32, len(texts))
	var owned []int
	firstOf := make(map[cacheKey]int, len(texts))
	awaited := make(map[int]*pendingVector)
	var hits uint64
	c.mu.Lock()
	for i, key := range keys {
		if first, ok := firstOf[key]; ok && first != i {
			hits++
			continue
		}
		firstOf[key] = i
		if el, ok := c.entries[key]; ok {
			c.recency.MoveToFront(el)
			found[i] = el.Value.(*cacheEntry).vec
			hits++
			continue
		}
		if p, ok := c.inflight[key]; ok {
			awaited[i] = p
			hits++
			continue
		}
		c.inflight[key] = &pendingVector{done: make(chan struct{})}
		owned = append(owned, i)
	}
	c.mu.Unlock()
	c.hits.Add(hits)
	c.misses.Add(uint64(len(owned)))

	var usage Usage
	if len(owned) > 0 {
		ownedTexts := make([]string, len(owned))
		for j, i := range owned {
			ownedTexts[j] = texts[i]
		}
		vecs, u, err := EmbedWithUsage(ctx, c.inner, ownedTexts)
		usage = u
		c.finish(keys, owned, vecs, err)
		if err != nil {
			return nil, usage, err
		}
		for j, i := range owned {
			found[i] = vecs[j]
		}
	}
	// A text awaited from a call that failed (perhaps only because its
	// caller gave up) is embedded here after all, uncached.
	var retry []int
	for i, p := range awaited {
		select {
		case <-p.done:
		case <-ctx.Done():
			return nil, usage, ctx.Err()
		}
		if p.err != nil {
			retry = append(retry, i)
			continue
		}
		found[i] = p.vec
	}
	if len(retry) > 0 {
		retryTexts := make([]string, len(retry))
		for j, i := range retry {
			retryTexts[j] = texts[i]
		}
		vecs, u, err := EmbedWithUsage(ctx, c.inner, retryTexts)
		usage = usage.Add(u)
		if err != nil {
			return nil, usage, err
		}
		for j, i := range retry {
			found[i] = vecs[j]
		}
	}

	// Copy out, so that no caller can change a cached vector.
	dim := 0
	for _, v := range found {
		if v != nil {
			dim = len(v)
			break
		}
	}
	backing := make([]float32, len(texts)*dim)
	out := make([][]float32, len(texts))
	for i, key := range keys {
		v := found[firstOf[key]]
		out[i] = backing[i*dim : (i+1)*dim : (i+1)*dim]
		copy(out[i], v)
	}
	return out, usage, nil
}

// finish stores what this call embedded and wakes the calls that wait for
// it; on err they wake to the error and nothing is stored.
func (c *CachedEmbedder) finish(keys []cacheKey, owned []int, vecs [][]float32, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for j, i := range owned {
		key := keys[i]
		p := c.inflight[key]
		delete(c.inflight, key)
		if err != nil {
			p.err = err
		} else {
			p.vec = vecs[j]
			c.store(key, vecs[j])
		}
		close(p.done)
	}
}

// store adds a vector as the most recently used and evicts the least
// recently used beyond the limit. The caller holds c.mu.
func (c *CachedEmbedder) store(key cacheKey, vec []float32) {
	if el, ok := c.entries[key]; ok {
		c.recency.MoveToFront(el)
		return
	}
	// A copy, so the cache does not keep the caller's whole batch alive.
	c.entries[key] = c.recency.PushFront(&cacheEntry{key: key, vec: slices.Clone(vec)})
	for c.recency.Len() > c.maxEntries {
		oldest := c.recency.Back()
		c.recency.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
}

// key hashes the embedder's identity with the text, each length-prefixed so
// that no two different triples share an encoding.
func (c *CachedEmbedder) key(text string) cacheKey {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, part := range []string{c.inner.Name(), c.inner.Model(), text} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		io.WriteString(h, part)
	}
	var key cacheKey
	h.Sum(key[:0])
	return key
}
