package llm

import (
	"context"
	"math"
	"slices"
	"sync"
)

// TermStats counts in how many of a corpus's documents each word stem
// occurs, so that a query can weigh its words by how rare they are there
// (inverse document frequency). Stored vectors cannot use corpus
// statistics, because those change with every insert and a stored vector
// must not; a query vector is made afresh for each search, so it can. The
// product of the two is what TF-IDF cosine would give, without ever
// re-embedding a document.
//
// Keep one TermStats per searchable corpus (per tenant), feed it every
// document added and removed, and pass it to EmbedQuery. It is rebuilt
// from the documents' texts at start, as the index is. Safe for concurrent
// use.
type TermStats struct {
	e *LocalEmbedder

	mu   sync.RWMutex
	docs int
	df   map[uint64]uint32
}

// NewTermStats returns empty statistics tokenised as e tokenises.
func (e *LocalEmbedder) NewTermStats() *TermStats {
	return &TermStats{e: e, df: make(map[uint64]uint32)}
}

// Add counts a document.
func (ts *TermStats) Add(text string) { ts.update(text, 1) }

// Remove uncounts a document that was added.
func (ts *TermStats) Remove(text string) { ts.update(text, -1) }

// Docs is the number of documents counted.
func (ts *TermStats) Docs() int {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.docs
}

func (ts *TermStats) update(text string, delta int) {
	s := ts.e.getScratch()
	defer ts.e.scratch.Put(s)
	ts.e.tokenize(s, text)
	s.terms = append(s.terms[:0], s.words...)
	slices.SortFunc(s.terms, func(a, b localWord) int {
		switch {
		case a.stem < b.stem:
			return -1
		case a.stem > b.stem:
			return 1
		}
		return 0
	})
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.docs += delta
	for i, w := range s.terms {
		if i > 0 && s.terms[i-1].stem == w.stem {
			continue
		}
		switch n := ts.df[w.stem]; {
		case delta > 0:
			ts.df[w.stem] = n + 1
		case n <= 1:
			delete(ts.df, w.stem)
		default:
			ts.df[w.stem] = n - 1
		}
	}
}

// idf is the BM25 form of inverse document frequency, which stays positive
// for a word in every document. The caller holds ts.mu for reading.
func (ts *TermStats) idf(stem uint64) float32 {
	n := float64(ts.docs)
	df := float64(ts.df[stem])
	return float32(math.Log(1 + (n-df+0.5)/(df+0.5)))
}

// EmbedQuery embeds a search query with its words weighed by their rarity
// in corpus as well as by the fixed prior. Without a corpus (nil or empty)
// it is Embed. Its vectors are for searching only: never store them.
func (e *LocalEmbedder) EmbedQuery(ctx context.Context, text string, corpus *TermStats) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v := make([]float32, e.dim)
	s := e.getScratch()
	defer e.scratch.Put(s)
	if corpus != nil {
		corpus.mu.RLock()
		defer corpus.mu.RUnlock()
		if corpus.docs > 0 {
			s.corpus = corpus
			defer func() { s.corpus = nil }()
		}
	}
	e.embedOne(s, text, v)
	return v, nil
}
