package index

import (
	"errors"
	"math"
)

// Result is one hit of a search.
type Result struct {
	ID string
	// Score is the dot product of query and item: the cosine similarity for
	// normalised vectors (higher is better), or the BM25 score for keyword search.
	Score float32
	// Distance is 1 - Score for vector search (lower is better); 0 for keyword search.
	Distance float32
}

// Vector is the interface shared by the exact, HNSW and adaptive indexes, so
// callers can switch between them without changing code.
type Vector interface {
	// Add inserts the vector under id, replacing any vector already stored under it.
	Add(id string, vec []float32) error
	// Delete removes id and reports whether it was present.
	Delete(id string) bool
	// Search returns up to k items nearest to q, best first. A nil filter
	// admits every item; otherwise only items for which filter returns true
	// are returned. The filter must be cheap and free of side effects: it can
	// be called from many goroutines and more than once per item.
	Search(q []float32, k int, filter func(id string) bool) []Result
	// SearchAppend is Search appending its answer to dst, for a caller that reuses
	// one slice from search to search.
	SearchAppend(dst []Result, q []float32, k int, filter func(id string) bool) []Result
	// Len is the number of live (not deleted) items.
	Len() int
	// Dim is the dimension every vector must have.
	Dim() int
}

// Metric says how similarity is computed. Both metrics rank by dot product,
// which equals cosine similarity on unit vectors; they differ in who makes
// vectors unit length.
type Metric uint8

const (
	// Cosine normalises every added vector and every query, so callers may
	// pass vectors of any length.
	Cosine Metric = iota
	// DotProduct trusts the caller: vectors are used as given, which is the
	// fastest path when the embedder already returns unit vectors.
	DotProduct
)

func (m Metric) String() string {
	switch m {
	case Cosine:
		return "cosine"
	case DotProduct:
		return "dot"
	}
	return "unknown"
}

var (
	// ErrDimension is returned when a vector's length differs from the index's dimension.
	ErrDimension = errors.New("index: vector has the wrong dimension")
	// ErrEmptyID is returned when an item is added without an id.
	ErrEmptyID = errors.New("index: empty id")
	// ErrBadVector is returned for vectors holding NaN or Inf, or, under
	// Cosine, vectors of zero length that cannot be normalised.
	ErrBadVector = errors.New("index: vector is zero, NaN or infinite")
)

// Normalize scales v in place to unit length and returns it. A zero vector
// is left unchanged.
func Normalize(v []float32) []float32 {
	norm := math.Sqrt(float64(Dot(v, v)))
	if norm == 0 {
		return v
	}
	inv := float32(1 / norm)
	for i := range v {
		v[i] *= inv
	}
	return v
}

// prepareVector validates vec and returns the copy the index keeps (or
// queries with), normalised when the metric asks for it.
func prepareVector(vec []float32, dim int, metric Metric) ([]float32, error) {
	return prepareVectorInto(nil, vec, dim, metric)
}

// prepareVectorInto is prepareVector writing the copy into dst's storage when it
// has room: a search's scratch, never a vector the index keeps.
func prepareVectorInto(dst, vec []float32, dim int, metric Metric) ([]float32, error) {
	if len(vec) != dim {
		return nil, ErrDimension
	}
	var sum float64
	for _, x := range vec {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, ErrBadVector
		}
		sum += float64(x) * float64(x)
	}
	out := append(dst[:0], vec...)
	if metric == Cosine {
		if sum == 0 {
			return nil, ErrBadVector
		}
		inv := float32(1 / math.Sqrt(sum))
		for i := range out {
			out[i] *= inv
		}
	}
	return out, nil
}

// toResult turns a dot product into a Result.
func toResult(id string, dot float32) Result {
	return Result{ID: id, Score: dot, Distance: 1 - dot}
}
