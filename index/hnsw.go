package index

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// HNSWConfig holds the parameters of a hierarchical navigable small world
// graph (Malkov & Yashunin, 2016).
type HNSWConfig struct {
	// M is the number of neighbours a node keeps on the upper layers; layer 0
	// keeps 2*M. Higher M raises recall and memory.
	M int
	// EfConstruction is the beam width used while inserting. Higher values
	// build a better graph, more slowly.
	EfConstruction int
	// EfSearch is the beam width used while searching (at least k is used).
	EfSearch int
	// Metric is Cosine (normalise on the way in) or DotProduct.
	Metric Metric
	// Seed makes level draws, and so whole graphs, reproducible.
	Seed uint64
	// MaxTombstoneShare is the share of deleted slots past which the graph is
	// rebuilt from its live items. Tombstones cost search time and memory.
	MaxTombstoneShare float64
}

// DefaultHNSWConfig returns parameters measured to reach recall@10 >= 0.95 on
// 100,000 clustered 384-dimensional vectors (see BENCHMARKS.md).
func DefaultHNSWConfig() HNSWConfig {
	return HNSWConfig{
		M:                 16,
		EfConstruction:    64,
		EfSearch:          64,
		Metric:            Cosine,
		Seed:              1,
		MaxTombstoneShare: 0.3,
	}
}

// withDefaults fills zero fields so a partly set config still works.
func (c HNSWConfig) withDefaults() HNSWConfig {
	d := DefaultHNSWConfig()
	if c.M < 2 {
		c.M = d.M
	}
	if c.EfConstruction <= 0 {
		c.EfConstruction = d.EfConstruction
	}
	if c.EfSearch <= 0 {
		c.EfSearch = d.EfSearch
	}
	if c.MaxTombstoneShare <= 0 || c.MaxTombstoneShare >= 1 {
		c.MaxTombstoneShare = d.MaxTombstoneShare
	}
	return c
}

// maxLevel bounds the level draw; with M >= 2 a level past it has
// probability below 2^-32.
const maxLevel = 32

// filteredScanBelow is the estimated filter pass rate below which a filtered
// search scans the passing items exactly instead of walking the graph: when
// few items pass, the walk must visit about ef/passRate nodes to collect ef of
// them, which costs more than scoring the passing ones directly. At 100k
// vectors the scan takes 3 ms at 1% and about 9 ms at 10%, the walk about
// 6 ms at 10%; the two meet near 8% (BenchmarkFilteredSearch).
const filteredScanBelow = 0.08

// passRateSample is how many slots are tested to estimate a filter's pass rate.
const passRateSample = 128

// HNSW is an approximate nearest-neighbour index.
//
// Concurrency: one writer at a time (writeMu) beside any number of readers.
// The writer does its graph searches without excluding readers, because only
// the writer mutates; it takes mu exclusively just to publish the new node
// and its edges. Compaction builds a whole new graph the same way and swaps
// it in under the lock, so readers never wait for a rebuild.
type HNSW struct {
	cfg HNSWConfig
	dim int

	writeMu sync.Mutex // serialises Add, Delete, Compact and Load
	mu      sync.RWMutex
	g       *graph

	levelMult float64    // 1/ln(M): the level distribution's scale
	rng       *rand.Rand // writer-only, under writeMu
	visited   sync.Pool  // of *visitedSet, one per concurrent search
}

var _ Vector = (*HNSW)(nil)

// NewHNSW returns an empty HNSW index over dim-dimensional vectors.
func NewHNSW(dim int, cfg HNSWConfig) *HNSW {
	cfg = cfg.withDefaults()
	return &HNSW{
		cfg:       cfg,
		dim:       dim,
		g:         newGraph(dim, cfg.M),
		levelMult: 1 / math.Log(float64(cfg.M)),
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		visited:   sync.Pool{New: func() any { return new(visitedSet) }},
	}
}

// Config returns the parameters in use.
func (h *HNSW) Config() HNSWConfig { return h.cfg }

// Dim returns the vector dimension.
func (h *HNSW) Dim() int { return h.dim }

// Len returns the number of live items.
func (h *HNSW) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.g.live
}

// Tombstones returns the number of deleted slots still held in the graph.
func (h *HNSW) Tombstones() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.g.ids) - h.g.live
}

// Add inserts vec under id. Re-adding an id replaces its vector: the old node
// becomes a tombstone and a new node is linked, as relinking a node in place
// would leave stale edges pointing at its old position. Searches see the old
// vector until the new one is fully linked, never both.
func (h *HNSW) Add(id string, vec []float32) error {
	if id == "" {
		return ErrEmptyID
	}
	v, err := prepareVector(vec, h.dim, h.cfg.Metric)
	if err != nil {
		return err
	}
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	h.insert(h.g, &h.mu, []insertJob{{id: id, vec: v, level: h.randomLevel()}}, 1)
	h.compactIfNeeded()
	return nil
}

// AddBatch adds many items using up to workers goroutines (at least one).
// It validates every item first and adds nothing if one is bad. When an id
// appears more than once the last vector wins. The items become visible to
// searches together, when the whole batch is linked.
func (h *HNSW) AddBatch(ids []string, vecs [][]float32, workers int) error {
	if len(ids) != len(vecs) {
		return fmt.Errorf("index: %d ids but %d vectors", len(ids), len(vecs))
	}
	prepared := make([][]float32, len(vecs))
	last := make(map[string]int, len(ids))
	for i, id := range ids {
		if id == "" {
			return ErrEmptyID
		}
		v, err := prepareVector(vecs[i], h.dim, h.cfg.Metric)
		if err != nil {
			return fmt.Errorf("item %q: %w", id, err)
		}
		prepared[i] = v
		last[id] = i
	}
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	jobs := make([]insertJob, 0, len(last))
	for i, id := range ids {
		if last[id] == i {
			jobs = append(jobs, insertJob{id: id, vec: prepared[i], level: h.randomLevel()})
		}
	}
	h.insert(h.g, &h.mu, jobs, workers)
	h.compactIfNeeded()
	return nil
}

// insertJob is one item to link. Its level is drawn up front so that the
// random source is only touched by the writer goroutine.
type insertJob struct {
	id    string
	vec   []float32
	level int
	slot  uint32
	old   uint32 // the slot of the version it replaces, if replaces
	// replaces is set when the id already has a live version.
	replaces bool
}

// insert adds jobs to g in three steps: append every node unlinked and hidden
// (exclusive lock, brief); link each node into the graph (shared lock, so
// readers carry on and several workers can link at once, edge lists being
// guarded by their stripe locks); then publish, making the new nodes visible
// and their replaced versions tombstones in one exclusive step.
func (h *HNSW) insert(g *graph, mu *sync.RWMutex, jobs []insertJob, workers int) {
	if len(jobs) == 0 {
		return
	}
	mu.Lock()
	for i := range jobs {
		j := &jobs[i]
		j.old, j.replaces = g.slots[j.id]
		j.slot = g.appendNode(j.id, j.vec, j.level)
	}
	first := 0
	if _, top := g.entryPoint(); top < 0 {
		g.setEntryPoint(jobs[0].slot, jobs[0].level)
		first = 1
	}
	mu.Unlock()

	linkOne := func(j *insertJob, seen *visitedSet) {
		mu.RLock()
		h.link(g, j, seen)
		mu.RUnlock()
	}
	workers = max(1, min(workers, len(jobs)-first))
	var next atomic.Int64
	next.Store(int64(first))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			seen := h.visited.Get().(*visitedSet)
			defer h.visited.Put(seen)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				linkOne(&jobs[i], seen)
			}
		})
	}
	wg.Wait()

	mu.Lock()
	for _, j := range jobs {
		if j.replaces {
			g.state[j.old] = slotDeleted
			g.live--
		}
		g.state[j.slot] = slotLive
		g.slots[j.id] = j.slot
		g.live++
	}
	mu.Unlock()
}

// link connects one appended node (algorithm 1 of the paper). The caller
// holds the shared lock.
func (h *HNSW) link(g *graph, j *insertJob, seen *visitedSet) {
	usable := func(s uint32) bool {
		return s != j.slot && g.state[s] != slotDeleted && !(j.replaces && s == j.old)
	}
	entry, top := g.entryPoint()
	p := g.queryProbe(j.vec, seen)
	ep := candidate{dist: g.distance(p, entry), slot: entry}
	for l := top; l > j.level; l-- {
		ep = g.greedyClosest(p, ep, l, seen)
	}
	entries := []candidate{ep}
	for l := min(j.level, top); l >= 0; l-- {
		// entries are read before searchLayer writes anything, so the layer's
		// answer may go where they were.
		found := g.searchLayer(p, entries, h.cfg.EfConstruction, l, nil, seen)
		entries = found.appendAscending(seen.best[:0])
		seen.best = entries
		chosen := g.selectNeighbours(entries, g.maxNeighbours(l), usable)
		// The node's own list first, so anyone who reaches it through a
		// backlink finds its way onward.
		g.addEdges(j.slot, l, chosen)
		back := []uint32{j.slot}
		for _, n := range chosen {
			g.addEdges(n, l, back)
		}
	}
	g.raiseEntryPoint(j.slot, j.level)
}

// Delete tombstones id and reports whether it was present.
func (h *HNSW) Delete(id string) bool {
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	g := h.g
	h.mu.Lock()
	slot, ok := g.slots[id]
	if ok {
		g.state[slot] = slotDeleted
		g.live--
		delete(g.slots, id)
	}
	h.mu.Unlock()
	if ok {
		h.compactIfNeeded()
	}
	return ok
}

// Compact rebuilds the graph from its live items, dropping every tombstone.
// Readers keep searching the old graph until the new one is swapped in.
func (h *HNSW) Compact() {
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	h.compact()
}

func (h *HNSW) compactIfNeeded() {
	g := h.g
	dead := len(g.ids) - g.live
	if dead > 0 && float64(dead) > h.cfg.MaxTombstoneShare*float64(len(g.ids)) {
		h.compact()
	}
}

// compact must be called with writeMu held. The old graph is only read, and
// only the writer mutates it, so no lock is needed to read it here.
func (h *HNSW) compact() {
	old := h.g
	jobs := make([]insertJob, 0, old.live)
	for slot, id := range old.ids {
		if old.state[slot] == slotLive {
			jobs = append(jobs, insertJob{id: id, vec: old.vector(uint32(slot)), level: h.randomLevel()})
		}
	}
	fresh := newGraph(h.dim, h.cfg.M)
	var freshMu sync.RWMutex
	h.insert(fresh, &freshMu, jobs, compactWorkers)
	h.mu.Lock()
	h.g = fresh
	h.mu.Unlock()
}

// compactWorkers is the parallelism of a rebuild. Two matches the machines
// memoryd is sized for and leaves the rest of the process responsive.
const compactWorkers = 2

func (h *HNSW) randomLevel() int {
	level := int(-math.Log(1-h.rng.Float64()) * h.levelMult)
	return min(level, maxLevel)
}

// Search returns up to k live items nearest to q that pass filter, using
// the configured EfSearch.
func (h *HNSW) Search(q []float32, k int, filter func(id string) bool) []Result {
	return h.SearchEf(q, k, h.cfg.EfSearch, filter)
}

// SearchAppend is Search appending its answer to dst.
func (h *HNSW) SearchAppend(dst []Result, q []float32, k int, filter func(id string) bool) []Result {
	return h.searchEf(dst, q, k, h.cfg.EfSearch, filter)
}

// SearchEf is Search with an explicit beam width, for callers that trade
// speed for recall per query (ef below k is raised to k).
func (h *HNSW) SearchEf(q []float32, k, ef int, filter func(id string) bool) []Result {
	return h.searchEf(nil, q, k, ef, filter)
}

// searchEf is SearchEf appending its answer to dst.
func (h *HNSW) searchEf(dst []Result, q []float32, k, ef int, filter func(id string) bool) []Result {
	seen := h.visited.Get().(*visitedSet)
	defer h.visited.Put(seen)
	query, err := prepareVectorInto(seen.query, q, h.dim, h.cfg.Metric)
	if err != nil || k <= 0 {
		return dst
	}
	seen.query = query
	h.mu.RLock()
	defer h.mu.RUnlock()
	g := h.g
	if g.live == 0 {
		return dst
	}
	return appendResults(dst, g.ids, h.searchGraph(g, query, k, max(ef, k), filter, seen))
}

// searchGraph runs with the read lock held. Its answer may be in seen's storage.
func (h *HNSW) searchGraph(g *graph, query []float32, k, ef int, filter func(string) bool, seen *visitedSet) []candidate {
	var admit func(uint32) bool
	switch {
	case filter != nil:
		admit = func(s uint32) bool { return g.state[s] == slotLive && filter(g.ids[s]) }
		if estimatePassRate(g, admit) < filteredScanBelow {
			return scanTopK(g.vectors, g.dim, len(g.ids), query, k, admit)
		}
	case g.live < len(g.ids):
		admit = func(s uint32) bool { return g.state[s] == slotLive }
	}

	entry, top := g.entryPoint()
	p := g.searchProbe(query, seen)
	ep := candidate{dist: g.distance(p, entry), slot: entry}
	for l := top; l > 0; l-- {
		ep = g.greedyClosest(p, ep, l, seen)
	}
	found := g.searchLayer(p, []candidate{ep}, ef, 0, admit, seen)
	best := found.appendAscending(seen.best[:0])
	seen.best = best
	if p.code != nil {
		// The walk compared bytes; the answers are scored from the full vectors
		// (see quant.go), all ef of them, so the k kept are the best by those.
		slots := seen.slots[:0]
		for _, c := range best {
			slots = append(slots, c.slot)
		}
		seen.slots = slots
		if !hasPrefetch {
			seen.sink += touchVectors(g, slots)
		}
		// Each vector (1.5 KB at 384 dimensions) is asked for a few answers
		// before it is scored, so its misses overlap the scoring before it
		// without asking for more lines than the core can have in flight.
		const ahead = 4
		g.prefetchVectors(slots[:min(ahead, len(slots))])
		for i := range best {
			if i+ahead < len(slots) {
				g.prefetchVectors(slots[i+ahead : i+ahead+1])
			}
			best[i].dist = g.exactDistance(query, best[i].slot)
		}
		slices.SortFunc(best, func(a, b candidate) int { return cmp.Compare(a.dist, b.dist) })
	}
	if len(best) > k {
		best = best[:k]
	}
	// A short answer means the walk ran out of admitted nodes it could reach
	// (a filter rarer than the sample suggested, or tombstones cutting the
	// graph). Whatever exists must still be returned, so fall back to exact.
	if len(best) < k && len(best) < g.live {
		return scanTopK(g.vectors, g.dim, len(g.ids), query, k, admit)
	}
	return best
}

// estimatePassRate tests a sample of slots against admit. The sample is
// scattered by a multiplicative hash rather than taken at a fixed stride, so
// a filter with a period of its own (every tenth id, say) cannot alias it.
func estimatePassRate(g *graph, admit func(uint32) bool) float64 {
	n := uint64(len(g.ids))
	if n == 0 {
		return 0
	}
	tests := min(n, passRateSample)
	var passed uint64
	for i := range tests {
		slot := i
		if n > passRateSample {
			slot = (i*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % n
		}
		if admit(uint32(slot)) {
			passed++
		}
	}
	return float64(passed) / float64(tests)
}
