package llm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
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

// termStatsMagic starts a TermStats snapshot; its digit is the format.
const termStatsMagic = "MDTS1\n"

// ErrBadSnapshot is returned when a snapshot cannot be read.
var ErrBadSnapshot = errors.New("llm: bad term statistics snapshot")

// MarshalBinary snapshots the statistics, so that a start can load them
// with the index instead of re-reading every document. The snapshot holds
// the embedder's model: statistics of another model are refused on load.
func (ts *TermStats) MarshalBinary() ([]byte, error) {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	model := ts.e.Model()
	b := make([]byte, 0, len(termStatsMagic)+1+len(model)+16+12*len(ts.df))
	b = append(b, termStatsMagic...)
	b = append(b, byte(len(model)))
	b = append(b, model...)
	b = binary.LittleEndian.AppendUint64(b, uint64(ts.docs))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(ts.df)))
	// Sorted, so that equal statistics give equal snapshots.
	stems := slices.Sorted(maps.Keys(ts.df))
	for _, stem := range stems {
		b = binary.LittleEndian.AppendUint64(b, stem)
		b = binary.LittleEndian.AppendUint32(b, ts.df[stem])
	}
	return b, nil
}

// UnmarshalBinary replaces the statistics with a snapshot's.
func (ts *TermStats) UnmarshalBinary(b []byte) error {
	if len(b) < len(termStatsMagic)+1 || string(b[:len(termStatsMagic)]) != termStatsMagic {
		return fmt.Errorf("%w: no header", ErrBadSnapshot)
	}
	b = b[len(termStatsMagic):]
	n := int(b[0])
	if len(b) < 1+n+16 {
		return fmt.Errorf("%w: cut short", ErrBadSnapshot)
	}
	if model := string(b[1 : 1+n]); model != ts.e.Model() {
		return fmt.Errorf("%w: made by model %s, not %s", ErrBadSnapshot, model, ts.e.Model())
	}
	b = b[1+n:]
	docs := binary.LittleEndian.Uint64(b)
	count := binary.LittleEndian.Uint64(b[8:])
	b = b[16:]
	if docs > 1<<40 || uint64(len(b)) != 12*count {
		return fmt.Errorf("%w: sizes do not match", ErrBadSnapshot)
	}
	df := make(map[uint64]uint32, count)
	for i := range int(count) {
		df[binary.LittleEndian.Uint64(b[12*i:])] = binary.LittleEndian.Uint32(b[12*i+8:])
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.docs, ts.df = int(docs), df
	return nil
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
	return e.EmbedQueryInto(ctx, nil, text, corpus)
}

// EmbedQueryInto is EmbedQuery writing the vector into dst's storage when it has
// room (a caller's scratch, reused from query to query), else into a new slice.
func (e *LocalEmbedder) EmbedQueryInto(ctx context.Context, dst []float32, text string, corpus *TermStats) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v := dst[:0]
	if cap(v) < e.dim {
		v = make([]float32, e.dim)
	}
	v = v[:e.dim]
	clear(v)
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
