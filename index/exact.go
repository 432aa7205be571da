package index

import (
	"slices"
	"sync"
)

// Exact is a brute-force index: every search scores every item. Below a few
// thousand vectors it is faster than HNSW (see ExactCrossover) and it is
// always exact, so small tenants use it.
type Exact struct {
	mu     sync.RWMutex
	dim    int
	metric Metric
	// vectors holds item i at vectors[i*dim:(i+1)*dim]; deletes move the last
	// item into the hole so the slice stays dense and scans touch no garbage.
	vectors []float32
	ids     []string
	slots   map[string]uint32
}

var _ Vector = (*Exact)(nil)

// NewExact returns an empty exact index over dim-dimensional vectors under
// the Cosine metric.
func NewExact(dim int) *Exact {
	return NewExactMetric(dim, Cosine)
}

// NewExactMetric returns an empty exact index using metric.
func NewExactMetric(dim int, metric Metric) *Exact {
	return &Exact{dim: dim, metric: metric, slots: make(map[string]uint32)}
}

// Add inserts or replaces the vector stored under id.
func (e *Exact) Add(id string, vec []float32) error {
	if id == "" {
		return ErrEmptyID
	}
	v, err := prepareVector(vec, e.dim, e.metric)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if slot, ok := e.slots[id]; ok {
		copy(e.vectors[int(slot)*e.dim:], v)
		return nil
	}
	e.slots[id] = uint32(len(e.ids))
	e.ids = append(e.ids, id)
	e.vectors = append(e.vectors, v...)
	return nil
}

// Delete removes id and reports whether it was present.
func (e *Exact) Delete(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	slot, ok := e.slots[id]
	if !ok {
		return false
	}
	last := uint32(len(e.ids) - 1)
	if slot != last {
		movedID := e.ids[last]
		e.ids[slot] = movedID
		e.slots[movedID] = slot
		copy(e.vectors[int(slot)*e.dim:int(slot+1)*e.dim], e.vectors[int(last)*e.dim:])
	}
	e.ids[last] = ""
	e.ids = e.ids[:last]
	e.vectors = e.vectors[:int(last)*e.dim]
	delete(e.slots, id)
	return true
}

// Search scores every item and returns the k best that pass filter.
func (e *Exact) Search(q []float32, k int, filter func(id string) bool) []Result {
	return e.SearchAppend(nil, q, k, filter)
}

// SearchAppend is Search appending its answer to dst.
func (e *Exact) SearchAppend(dst []Result, q []float32, k int, filter func(id string) bool) []Result {
	query, err := prepareVector(q, e.dim, e.metric)
	if err != nil || k <= 0 {
		return dst
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	var admit func(slot uint32) bool
	if filter != nil {
		admit = func(slot uint32) bool { return filter(e.ids[slot]) }
	}
	return appendResults(dst, e.ids, scanTopK(e.vectors, e.dim, len(e.ids), query, k, admit))
}

// appendResults appends the Results of found, whose slots index ids. A nil dst
// gets a new slice, empty but not nil when nothing was found, as Search returns.
func appendResults(dst []Result, ids []string, found []candidate) []Result {
	if dst == nil {
		dst = make([]Result, 0, len(found))
	}
	dst = slices.Grow(dst, len(found))
	for _, c := range found {
		dst = append(dst, toResult(ids[c.slot], 1-c.dist))
	}
	return dst
}

// Len returns the number of items.
func (e *Exact) Len() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.ids)
}

// Dim returns the vector dimension.
func (e *Exact) Dim() int { return e.dim }

// forEach calls fn for every item, holding the read lock.
func (e *Exact) forEach(fn func(id string, vec []float32)) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for i, id := range e.ids {
		fn(id, e.vectors[i*e.dim:(i+1)*e.dim])
	}
}

// scanTopK scores slots [0, n) of vectors against query and returns the k
// nearest admitted ones, nearest first. admit (nil admits all) is asked
// before scoring: a filter is a map lookup or two, a 384-dimensional dot
// product costs far more, and a scan is chosen precisely when few items pass.
func scanTopK(vectors []float32, dim, n int, query []float32, k int, admit func(slot uint32) bool) []candidate {
	best := make(maxQueue, 0, k+1)
	for slot := 0; slot < n; slot++ {
		if admit != nil && !admit(uint32(slot)) {
			continue
		}
		dist := 1 - Dot(query, vectors[slot*dim:(slot+1)*dim])
		best.pushBounded(candidate{dist: dist, slot: uint32(slot)}, k)
	}
	return best.sortedAscending()
}
