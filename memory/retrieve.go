package memory

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"memoryd/index"
	"memoryd/llm"
	"memoryd/store"
)

// Query asks for the memories most relevant to a context.
type Query struct {
	Context   string
	Max       int     // 1–100
	Threshold float32 // 0–1: answers below it are dropped
	Scope     store.Scope
	// Metadata filters: each key must equal the value, or be one of In[key].
	MetadataEq                  map[string]any
	MetadataIn                  map[string][]any
	CreatedAfter, CreatedBefore *time.Time
}

// Hit is a retrieved memory with its relevance in 0–1.
type Hit struct {
	Memory    store.Memory
	Relevance float32
}

// Result is a retrieval's answer and the work it did, for metering.
type Result struct {
	Hits       []Hit
	Embeddings int // texts embedded (0 when the query vector came from the cache)
	Tokens     int // tokens the embedder reported
	Cached     bool
	// PrefilterTokensSaved estimates the prompt tokens a model call after retrieval did
	// not need because retrieval sent it these hits instead of the whole scope (see
	// prefilterSaved); 0 when no model was called.
	PrefilterTokensSaved int64
}

// Ranking: the vector index and the keyword index (BM25 over each memory with the
// memories written just before it in its scope) each propose candidates; relevance is
// their blend (see blend), in 0–1.
const (
	vectorWeight   = 0.5
	candidateFloor = 50 // candidates taken from each list, at least
)

// Retrieve finds the memories of tenant t most relevant to q. It never calls a
// language model; the query is embedded (locally by default).
func (e *Engine) Retrieve(ctx context.Context, t Tenant, q Query) (Result, error) {
	ti, err := e.tenant(t)
	if err != nil {
		return Result{}, err
	}
	ti.mu.RLock()
	gen := ti.gen
	ti.mu.RUnlock()
	var keyBuf [256]byte
	key := appendCacheKey(keyBuf[:0], t, gen, &q)
	if ranked, ok := e.cache.get(key); ok {
		ti.mu.RLock()
		hits := ti.answers(ranked, 0, len(ranked), e.now())
		ti.mu.RUnlock()
		// A cached answer never shows a memory deleted or expired since (the key
		// changes on every write, but expiry needs none): else it is recomputed.
		if len(hits) == len(ranked) {
			return Result{Hits: hits, Cached: true}, nil
		}
	}

	var qvec []float32
	var usage llm.Usage
	if e.local == nil {
		// A remote model is waited for here, not on a search worker.
		var vecs [][]float32
		if vecs, usage, err = llm.EmbedWithUsage(ctx, e.embedder, []string{q.Context}); err != nil {
			return Result{}, err
		}
		qvec = vecs[0]
	}
	r := e.retrievals.Get().(*retrieval)
	r.e, r.ctx, r.ti, r.q, r.qvec = e, ctx, ti, q, qvec
	if err := e.searches.do(ctx, r); err != nil {
		return Result{}, err // r may still be the queue's: not reused
	}
	hits, err := r.hits, r.err
	*r = retrieval{}
	e.retrievals.Put(r)
	if err != nil {
		return Result{}, err
	}
	ranked := make([]scored, len(hits))
	for i, h := range hits {
		ranked[i] = scored{h.Memory.ID, h.Relevance}
	}
	e.cache.put(key, ranked)
	return Result{Hits: hits, Embeddings: 1, Tokens: int(e.billedTokens(usage))}, nil
}

// retrieval is the part of a Retrieve that runs on a search worker (see searchPool):
// its inputs, then its answer. The engine pools them.
type retrieval struct {
	e    *Engine
	ctx  context.Context
	ti   *tenantIndex
	q    Query
	qvec []float32 // nil: the local embedder embeds the query

	hits []Hit
	err  error
}

func (r *retrieval) run() { r.hits, r.err = r.e.search(r.ctx, r.ti, &r.q, r.qvec) }

// search embeds q locally when qvec is nil, and ranks ti's memories for it.
func (e *Engine) search(ctx context.Context, ti *tenantIndex, q *Query, qvec []float32) ([]Hit, error) {
	scratch := e.getScratch()
	defer e.scratch.Put(scratch)
	if qvec == nil {
		var err error
		if qvec, err = e.local.EmbedQueryInto(ctx, scratch.query, q.Context, ti.stats); err != nil {
			return nil, err
		}
		scratch.query = qvec
	}

	now := e.now()
	k := max(candidateFloor, 5*q.Max)
	ti.mu.RLock()
	defer ti.mu.RUnlock()
	// Without scope, filters or expiring memories, every indexed memory is admitted
	// and filter stays nil: a vector whose memory was deleted while the search ran
	// has no doc, and answers drops it.
	var filter func(id string) bool
	if !q.unconstrained() || ti.expiring > 0 {
		filter = func(id string) bool {
			d := ti.docs[id]
			return d != nil && q.admits(d, now)
		}
	}
	var vres, kres []index.Result
	if ids, ok := ti.scopedCandidates(q.Scope); ok {
		admitted := ids[:0]
		for _, id := range ids {
			if filter(id) {
				admitted = append(admitted, id)
			}
		}
		vres = ti.vec.SearchAmong(qvec, k, admitted)
		kres = ti.kw.SearchAmong(q.Context, k, admitted)
	} else {
		vres = ti.vec.SearchAppend(scratch.vres[:0], qvec, k, filter)
		scratch.vres = vres
		kres = ti.kw.Search(q.Context, k, filter)
	}
	return ti.answers(scratch.blend(vres, kres), q.Threshold, q.Max, now), nil
}

// unconstrained reports whether q has neither scope nor filters.
func (q *Query) unconstrained() bool {
	return q.Scope == (store.Scope{}) && len(q.MetadataEq) == 0 && len(q.MetadataIn) == 0 &&
		q.CreatedAfter == nil && q.CreatedBefore == nil
}

// admits reports whether a memory passes the query's scope and filters.
func (q *Query) admits(d *doc, now time.Time) bool {
	if (q.Scope.UserID != "" && d.userID != q.Scope.UserID) ||
		(q.Scope.AgentID != "" && d.agentID != q.Scope.AgentID) ||
		(q.Scope.SessionID != "" && d.sessionID != q.Scope.SessionID) {
		return false
	}
	if d.expiresAt != nil && !now.Before(*d.expiresAt) {
		return false
	}
	if q.CreatedAfter != nil && !d.createdAt.After(*q.CreatedAfter) {
		return false
	}
	if q.CreatedBefore != nil && !d.createdAt.Before(*q.CreatedBefore) {
		return false
	}
	for k, want := range q.MetadataEq {
		got, ok := d.metadata[k]
		if !ok || !jsonEqual(got, want) {
			return false
		}
	}
	for k, set := range q.MetadataIn {
		got, ok := d.metadata[k]
		if !ok || !slices.ContainsFunc(set, func(v any) bool { return jsonEqual(got, v) }) {
			return false
		}
	}
	return true
}

// jsonEqual compares decoded JSON scalars (numbers as float64).
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case string, bool, nil, float64:
		return a == b
	default:
		return fmt.Sprint(x) == fmt.Sprint(b)
	}
}

type scored struct {
	id    string
	score float32
}

// retrieveScratch is what one retrieval computes with and drops: the query vector,
// the vector search's answer, and blend's table and ranking. The engine lends them out of a pool; nothing in
// one outlives the retrieval that borrowed it.
type retrieveScratch struct {
	query  []float32
	vres   []index.Result
	table  []int32
	ranked []scored
}

func (e *Engine) getScratch() *retrieveScratch {
	if s, ok := e.scratch.Get().(*retrieveScratch); ok {
		return s
	}
	return new(retrieveScratch)
}

// blend scores the union of both candidate lists: half the cosine similarity of
// meaning (absolute, negative counted as 0) plus half the BM25 score relative to the
// best keyword match for this query. Equal weights, not fitted to any data set.
// The answer is s's own until s's next blend.
func (s *retrieveScratch) blend(vres, kres []index.Result) []scored {
	// The union is gathered in a small open-addressing table keyed by a hash of the
	// id's last bytes (the random part of a memory id): cheaper than a map of strings
	// for the hundred or so candidates of a query.
	n := len(vres) + len(kres)
	size := 16
	for size < 2*n {
		size *= 2
	}
	if cap(s.table) < size {
		s.table = make([]int32, size)
	}
	table := s.table[:size] // 1 + index into out; 0 is empty
	clear(table)
	out := slices.Grow(s.ranked[:0], n)
	add := func(id string, sc float32) {
		for h := idHash(id) & uint64(size-1); ; h = (h + 1) & uint64(size-1) {
			j := table[h]
			if j == 0 {
				out = append(out, scored{id, sc})
				table[h] = int32(len(out))
				return
			}
			if out[j-1].id == id {
				out[j-1].score += sc
				return
			}
		}
	}
	for _, r := range vres {
		add(r.ID, vectorWeight*max(0, r.Score))
	}
	if len(kres) > 0 && kres[0].Score > 0 {
		top := kres[0].Score
		for _, r := range kres {
			add(r.ID, (1-vectorWeight)*r.Score/top)
		}
	}
	for i := range out {
		out[i].score = roundScore(min(1, out[i].score))
	}
	slices.SortFunc(out, func(a, b scored) int {
		if a.score != b.score {
			return cmp.Compare(b.score, a.score)
		}
		return strings.Compare(b.id, a.id) // newer first on ties
	})
	s.ranked = out
	return out
}

// idHash mixes the last 8 bytes of an id (all of a shorter one).
func idHash(id string) uint64 {
	var h uint64
	for i := max(0, len(id)-8); i < len(id); i++ {
		h = h<<8 | uint64(id[i])
	}
	return (h ^ uint64(len(id))) * 0x9e3779b97f4a7c15 >> 32
}

// roundScore keeps 4 decimals: the threshold compares the same number the answer
// shows, so a relevance copied from an answer keeps that memory.
func roundScore(f float32) float32 {
	return float32(math.Round(float64(f)*10000) / 10000)
}

// answers returns the memories of ranked, best first, down to threshold and up to
// max, from the docs (committed writes, as the store holds them), dropping any
// deleted or expired since the search. The caller holds ti.mu.
func (ti *tenantIndex) answers(ranked []scored, threshold float32, max int, now time.Time) []Hit {
	hits := make([]Hit, 0, min(max, len(ranked)))
	for _, r := range ranked {
		if len(hits) == max || r.score < threshold {
			break
		}
		d := ti.docs[r.id]
		if d == nil || d.mem.Expired(now) {
			continue
		}
		hits = append(hits, Hit{Memory: d.mem, Relevance: r.score})
	}
	return hits
}
