package index

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// ExactCrossover is the index size at which HNSW search becomes faster than
// an exact scan of 384-dimensional vectors on the reference machine (2 cores;
// BenchmarkCrossover in BENCHMARKS.md: level at 250 vectors, HNSW twice as
// fast at 500). Below it Auto scans exactly, which is as fast and exact.
const ExactCrossover = 300

// Auto is a vector index that scans exactly while it is small and switches
// to HNSW once it reaches its crossover size, and back again (at half the
// crossover, so an index hovering at the line does not flip on every write).
// Switching builds the other index from the current items while readers keep
// searching the current one, then swaps.
type Auto struct {
	dim       int
	cfg       HNSWConfig
	crossover int

	writeMu sync.Mutex   // serialises writers
	mu      sync.RWMutex // guards the current index pointers
	exact   *Exact       // set while small
	hnsw    *HNSW        // set while large
}

var _ Vector = (*Auto)(nil)

// NewAuto returns an empty adaptive index that switches at ExactCrossover.
func NewAuto(dim int, cfg HNSWConfig) *Auto {
	return NewAutoCrossover(dim, cfg, ExactCrossover)
}

// NewAutoCrossover returns an adaptive index switching at crossover items.
func NewAutoCrossover(dim int, cfg HNSWConfig, crossover int) *Auto {
	cfg = cfg.withDefaults()
	return &Auto{
		dim:       dim,
		cfg:       cfg,
		crossover: max(crossover, 2),
		exact:     NewExactMetric(dim, cfg.Metric),
	}
}

// current returns the index serving reads now.
func (a *Auto) current() Vector {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.hnsw != nil {
		return a.hnsw
	}
	return a.exact
}

// UsesHNSW reports whether the index is currently in its HNSW mode.
func (a *Auto) UsesHNSW() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.hnsw != nil
}

// Add inserts or replaces the vector under id.
func (a *Auto) Add(id string, vec []float32) error {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	if err := a.current().Add(id, vec); err != nil {
		return err
	}
	a.switchIfNeeded()
	return nil
}

// AddBatch adds many items at once, all or nothing, with the semantics of
// (*HNSW).AddBatch. When the batch takes the index past its crossover the
// graph is built in one parallel pass instead of item by item, which is the
// fast way to rebuild a tenant from the store.
func (a *Auto) AddBatch(ids []string, vecs [][]float32) error {
	if len(ids) != len(vecs) {
		return fmt.Errorf("index: %d ids but %d vectors", len(ids), len(vecs))
	}
	for i, id := range ids {
		if id == "" {
			return ErrEmptyID
		}
		if _, err := prepareVector(vecs[i], a.dim, a.cfg.Metric); err != nil {
			return fmt.Errorf("item %q: %w", id, err)
		}
	}
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	a.mu.RLock()
	exact, hnsw := a.exact, a.hnsw
	a.mu.RUnlock()
	if hnsw != nil {
		err := hnsw.AddBatch(ids, vecs, compactWorkers)
		a.switchIfNeeded()
		return err
	}
	if exact.Len()+len(ids) < a.crossover {
		for i, id := range ids {
			if err := exact.Add(id, vecs[i]); err != nil {
				return err // cannot happen: validated above
			}
		}
		return nil
	}
	var allIDs []string
	var allVecs [][]float32
	exact.forEach(func(id string, vec []float32) {
		allIDs = append(allIDs, id)
		allVecs = append(allVecs, vec)
	})
	h := NewHNSW(a.dim, a.cfg)
	if err := h.AddBatch(append(allIDs, ids...), append(allVecs, vecs...), compactWorkers); err != nil {
		return err
	}
	a.mu.Lock()
	a.exact, a.hnsw = nil, h
	a.mu.Unlock()
	a.switchIfNeeded() // a batch of repeated ids may leave it small
	return nil
}

// Delete removes id and reports whether it was present.
func (a *Auto) Delete(id string) bool {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	ok := a.current().Delete(id)
	a.switchIfNeeded()
	return ok
}

// Search returns up to k items nearest to q that pass filter.
func (a *Auto) Search(q []float32, k int, filter func(id string) bool) []Result {
	return a.current().Search(q, k, filter)
}

// SearchAppend is Search appending its answer to dst.
func (a *Auto) SearchAppend(dst []Result, q []float32, k int, filter func(id string) bool) []Result {
	return a.current().SearchAppend(dst, q, k, filter)
}

// Len returns the number of items.
func (a *Auto) Len() int { return a.current().Len() }

// Dim returns the vector dimension.
func (a *Auto) Dim() int { return a.dim }

// switchIfNeeded runs with writeMu held, so the current index cannot change
// while it is copied.
func (a *Auto) switchIfNeeded() {
	a.mu.RLock()
	exact, hnsw := a.exact, a.hnsw
	a.mu.RUnlock()
	switch {
	case exact != nil && exact.Len() >= a.crossover:
		h := NewHNSW(a.dim, a.cfg)
		var ids []string
		var vecs [][]float32
		exact.forEach(func(id string, vec []float32) {
			ids = append(ids, id)
			vecs = append(vecs, vec)
		})
		// Vectors are already prepared; re-preparing is an idempotent copy.
		if err := h.AddBatch(ids, vecs, compactWorkers); err != nil {
			panic(fmt.Sprintf("index: rebuilding prepared vectors failed: %v", err))
		}
		a.mu.Lock()
		a.exact, a.hnsw = nil, h
		a.mu.Unlock()
	case hnsw != nil && hnsw.Len() < a.crossover/2:
		e := NewExactMetric(a.dim, a.cfg.Metric)
		hnsw.forEachLive(func(id string, vec []float32) {
			e.slots[id] = uint32(len(e.ids))
			e.ids = append(e.ids, id)
			e.vectors = append(e.vectors, vec...)
		})
		a.mu.Lock()
		a.exact, a.hnsw = e, nil
		a.mu.Unlock()
	}
}

// Save writes a snapshot of whichever index is current. See (*HNSW).Save.
func (a *Auto) Save(path, stateID string) error {
	return writeFileAtomic(path, func(w io.Writer) error { return a.WriteSnapshot(w, stateID) })
}

// WriteSnapshot writes the snapshot to w.
func (a *Auto) WriteSnapshot(w io.Writer, stateID string) error {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	if a.hnsw != nil {
		return a.hnsw.WriteSnapshot(w, stateID)
	}
	return a.exact.writeSnapshot(w, stateID)
}

// LoadAuto reads a snapshot written by (*Auto).Save, with the errors of
// LoadHNSW. cfg and crossover apply to the loaded index from now on, except
// that an HNSW graph keeps the parameters it was built with.
func LoadAuto(path, wantStateID string, cfg HNSWConfig, crossover int) (*Auto, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sr, kind, err := openSnapshot(f, wantStateID)
	if err != nil {
		return nil, err
	}
	if kind == kindHNSW {
		h, err := readHNSWBody(sr, info.Size())
		if err != nil {
			return nil, err
		}
		a := NewAutoCrossover(h.dim, h.cfg, crossover)
		a.exact, a.hnsw = nil, h
		return a, nil
	}
	e, err := readExactBody(sr, info.Size())
	if err != nil {
		return nil, err
	}
	cfg.Metric = e.metric
	a := NewAutoCrossover(e.dim, cfg, crossover)
	a.exact = e
	return a, nil
}

// forEachLive calls fn for every live item; the caller holds writeMu.
func (h *HNSW) forEachLive(fn func(id string, vec []float32)) {
	g := h.g
	for s, id := range g.ids {
		if g.state[s] == slotLive {
			fn(id, g.vector(uint32(s)))
		}
	}
}

// writeSnapshot writes the exact index: dim u32, metric u8, count u32, the
// ids, then the vectors.
func (e *Exact) writeSnapshot(w io.Writer, stateID string) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	sw := newSnapshotWriter(w, kindExact, stateID)
	sw.u32(uint32(e.dim))
	sw.u8(uint8(e.metric))
	sw.u32(uint32(len(e.ids)))
	for _, id := range e.ids {
		sw.str(id)
	}
	sw.floats(e.vectors)
	return sw.finish()
}

func readExactBody(sr *snapshotReader, size int64) (*Exact, error) {
	dim := int(sr.u32())
	metric := Metric(sr.u8())
	count := int(sr.u32())
	if sr.err != nil {
		return nil, sr.err
	}
	if dim <= 0 || dim > 1<<16 || metric > DotProduct || int64(count)*int64(dim)*4 > size {
		return nil, fmt.Errorf("%w: bad header", ErrSnapshotCorrupt)
	}
	e := NewExactMetric(dim, metric)
	e.ids = make([]string, count)
	for i := range e.ids {
		e.ids[i] = sr.str()
		if sr.err != nil {
			return nil, sr.err
		}
	}
	e.vectors = make([]float32, count*dim)
	sr.floats(e.vectors)
	if err := sr.verify(); err != nil {
		return nil, err
	}
	for i, id := range e.ids {
		if _, dup := e.slots[id]; dup || id == "" {
			return nil, fmt.Errorf("%w: id %q repeated or empty", ErrSnapshotCorrupt, id)
		}
		e.slots[id] = uint32(i)
	}
	return e, nil
}

// LoadOrBuildAuto is LoadOrBuildHNSW for the adaptive index: it loads the
// snapshot at path if it matches stateID and dim, and otherwise builds the
// index from source (an HNSW built in one parallel batch when the source
// holds at least ExactCrossover items) and saves it back to path. reason
// says why the snapshot was not used (nil when there was none); a failed
// save is returned as err alongside a usable index.
func LoadOrBuildAuto(path, stateID string, dim int, cfg HNSWConfig, source func(add func(id string, vec []float32) error) error) (a *Auto, loaded bool, reason error, err error) {
	a, reason = LoadAuto(path, stateID, cfg, ExactCrossover)
	if reason == nil {
		if a.dim == dim {
			return a, true, nil, nil
		}
		reason = fmt.Errorf("%w: dimension %d, want %d", ErrSnapshotStale, a.dim, dim)
	}
	if os.IsNotExist(reason) {
		reason = nil
	}
	var ids []string
	var vecs [][]float32
	err = source(func(id string, vec []float32) error {
		if len(vec) != dim {
			return fmt.Errorf("item %q: %w", id, ErrDimension)
		}
		ids = append(ids, id)
		vecs = append(vecs, vec)
		return nil
	})
	if err != nil {
		return nil, false, reason, err
	}
	a = NewAuto(dim, cfg)
	if len(ids) >= a.crossover {
		h := NewHNSW(dim, a.cfg)
		if err := h.AddBatch(ids, vecs, compactWorkers); err != nil {
			return nil, false, reason, err
		}
		a.exact, a.hnsw = nil, h
	} else {
		for i, id := range ids {
			if err := a.exact.Add(id, vecs[i]); err != nil {
				return nil, false, reason, fmt.Errorf("item %q: %w", id, err)
			}
		}
	}
	return a, false, reason, a.Save(path, stateID)
}
