package index

import (
	"math"
	"slices"
)

// SearchAmong scores only the given ids (those present) and returns the k nearest,
// best first. For a query scoped to a small set of items inside a large index (one
// user's memories among a tenant's), looking the few items up costs far less than
// walking or scanning the whole index with a filter.
func (e *Exact) SearchAmong(q []float32, k int, ids []string) []Result {
	query, err := prepareVector(q, e.dim, e.metric)
	if err != nil || k <= 0 {
		return nil
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	best := make(maxQueue, 0, k+1)
	for _, id := range ids {
		if slot, ok := e.slots[id]; ok {
			dist := 1 - Dot(query, e.vectors[int(slot)*e.dim:(int(slot)+1)*e.dim])
			best.pushBounded(candidate{dist: dist, slot: slot}, k)
		}
	}
	ranked := best.sortedAscending()
	out := make([]Result, len(ranked))
	for i, c := range ranked {
		out[i] = toResult(e.ids[c.slot], 1-c.dist)
	}
	return out
}

// SearchAmong is (*Exact).SearchAmong over the graph's live items.
func (h *HNSW) SearchAmong(q []float32, k int, ids []string) []Result {
	query, err := prepareVector(q, h.dim, h.cfg.Metric)
	if err != nil || k <= 0 {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	g := h.g
	best := make(maxQueue, 0, k+1)
	for _, id := range ids {
		if slot, ok := g.slots[id]; ok && g.state[slot] == slotLive {
			best.pushBounded(candidate{dist: g.exactDistance(query, slot), slot: slot}, k)
		}
	}
	ranked := best.sortedAscending()
	out := make([]Result, len(ranked))
	for i, c := range ranked {
		out[i] = toResult(g.ids[c.slot], 1-c.dist)
	}
	return out
}

// SearchAmong searches the current index among ids only.
func (a *Auto) SearchAmong(q []float32, k int, ids []string) []Result {
	a.mu.RLock()
	exact, hnsw := a.exact, a.hnsw
	a.mu.RUnlock()
	if hnsw != nil {
		return hnsw.SearchAmong(q, k, ids)
	}
	return exact.SearchAmong(q, k, ids)
}

// TermStats returns what BM25 needs beyond a document's own words: the number of
// documents, their mean length in terms, and each term's document frequency. With it
// a caller scores a few known documents (SearchAmong's keyword counterpart) without
// walking the postings of the whole index.
func (k *Keyword) TermStats(terms []string) (docs int, avgLen float64, df []int) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	docs = len(k.slots)
	if docs > 0 {
		avgLen = float64(k.totalLen) / float64(docs)
	}
	df = make([]int, len(terms))
	for i, t := range terms {
		df[i] = k.docFreq[t]
	}
	return docs, avgLen, df
}

// BM25 scores a document's terms against query terms with the index's formula, given
// TermStats for the query terms.
func BM25(queryTerms, docTerms []string, docs int, avgLen float64, df []int) float64 {
	if docs == 0 || len(docTerms) == 0 {
		return 0
	}
	if avgLen == 0 {
		avgLen = 1
	}
	norm := bm25K1 * (1 - bm25B + bm25B*float64(len(docTerms))/avgLen)
	score := 0.0
	for i, q := range queryTerms {
		if df[i] == 0 || slices.Contains(queryTerms[:i], q) {
			continue
		}
		tf := 0
		for _, t := range docTerms {
			if t == q {
				tf++
			}
		}
		if tf == 0 {
			continue
		}
		idf := math.Log(1 + (float64(docs)-float64(df[i])+0.5)/(float64(df[i])+0.5))
		score += idf * float64(tf) * (bm25K1 + 1) / (float64(tf) + norm)
	}
	return score
}
