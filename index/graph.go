package index

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// edgeStripes is the number of locks guarding edge lists; a slot's list is
// guarded by lock slot%edgeStripes. Enough stripes that two inserts rarely
// contend, few enough that the array stays small.
const edgeStripes = 1024

// slotState is the life stage of a slot.
type slotState uint8

const (
	slotLive    slotState = iota
	slotDeleted           // a tombstone: routes searches, never returned
	slotPending           // being linked: may become a neighbour, not yet returned
)

// graph is the HNSW data itself. It is swapped whole when the index is
// compacted, so a reader that took the read lock sees one consistent graph.
//
// Items live in dense uint32 slots. A deleted item keeps its slot as a
// tombstone: its edges still route searches, but it is never returned and
// never chosen as a new neighbour; compaction drops tombstones for good.
//
// Locking: the HNSW's RWMutex guards the slices and maps (held shared by
// searches and by inserts while they link, exclusively to append or delete).
// Edge lists change while many goroutines hold it shared, so each list is
// also guarded by its stripe lock, and the entry point is one atomic word.
type graph struct {
	dim int
	m   int // neighbours kept per node on layers above 0
	m0  int // neighbours kept per node on layer 0

	vectors []float32 // slot s at vectors[s*dim:(s+1)*dim]; never changed once added
	// codes and scales are the vectors as bytes (see quant.go), what walks read;
	// nil when the CPU has no byte kernel.
	codes  []int8
	scales []float32
	// nibbles are the vectors at four bits a dimension (see quant4.go), what a
	// query's walk reads; nil unless codes are kept and the dimensions pack.
	nibbles []uint8
	ids     []string
	slots   map[string]uint32 // live ids only
	levels  []uint8
	// layer0 holds m0+1 words per slot: a count, then the neighbour slots.
	// One flat array keeps the layer every search spends its time in compact.
	layer0 []uint32
	// upper holds, per slot, level*(m+1) words laid out like layer0, one
	// block per layer from 1 up; nil for the ~(1-1/m) of nodes on layer 0 only.
	upper [][]uint32
	state []slotState
	// version counts edge changes per slot, so an insert that computed a
	// neighbour's new list off-lock can tell whether the list moved since.
	version []uint32
	edgeMu  [edgeStripes]sync.Mutex

	live int // items not deleted
	// top packs the entry slot (high 32 bits) and the top level + 1 (low 32
	// bits, 0 while empty) so both change in one atomic step.
	top atomic.Uint64
}

func newGraph(dim, m int) *graph {
	return &graph{dim: dim, m: m, m0: 2 * m, slots: make(map[string]uint32)}
}

// entryPoint returns the slot searches start from and the graph's top level
// (-1 when the graph is empty).
func (g *graph) entryPoint() (uint32, int) {
	v := g.top.Load()
	return uint32(v >> 32), int(uint32(v)) - 1
}

func (g *graph) setEntryPoint(slot uint32, level int) {
	g.top.Store(uint64(slot)<<32 | uint64(uint32(level+1)))
}

// raiseEntryPoint makes slot the entry point if level is above the current
// top, racing safely with other inserts doing the same.
func (g *graph) raiseEntryPoint(slot uint32, level int) {
	for {
		old := g.top.Load()
		if int(uint32(old))-1 >= level {
			return
		}
		if g.top.CompareAndSwap(old, uint64(slot)<<32|uint64(uint32(level+1))) {
			return
		}
	}
}

// quantized reports whether walks read bytes rather than floats.
func (g *graph) quantized() bool { return useInt8SIMD }

func (g *graph) code(slot uint32) []int8 {
	start := int(slot) * g.dim
	return g.codes[start : start+g.dim : start+g.dim]
}

func (g *graph) nibbleCode(slot uint32) []uint8 {
	n := g.dim / 2
	start := int(slot) * n
	return g.nibbles[start : start+n : start+n]
}

// searchProbe is queryProbe for a search's walk: it reads the nibbles where the
// graph keeps them. Inserts walk on the byte codes, which choose better
// neighbours, and a graph is built once but searched many times.
func (g *graph) searchProbe(v []float32, seen *visitedSet) probe {
	p := g.queryProbe(v, seen)
	p.nibbles = g.nibbles != nil
	return p
}

// queryProbe prepares an outside vector (a query, or a vector being inserted)
// for walking the graph. Its code is seen's until seen's next probe.
func (g *graph) queryProbe(v []float32, seen *visitedSet) probe {
	p := probe{vec: v}
	if g.quantized() {
		seen.code = slices.Grow(seen.code[:0], len(v))[:len(v)]
		p.code = seen.code
		p.scale = quantize(v, p.code)
	}
	return p
}

// nodeProbe is the probe of a stored node.
func (g *graph) nodeProbe(slot uint32) probe {
	p := probe{vec: g.vector(slot)}
	if g.quantized() {
		p.code, p.scale = g.code(slot), g.scales[slot]
	}
	return p
}

// encode fills codes and scales from vectors for slots [from, len(ids)).
func (g *graph) encode(from int) {
	if !g.quantized() {
		return
	}
	n := len(g.ids)
	g.codes = growHuge(g.codes, n*g.dim-len(g.codes))
	g.codes = g.codes[:n*g.dim]
	nibbles := packs4(g.dim)
	if nibbles {
		g.nibbles = growHuge(g.nibbles, n*g.dim/2-len(g.nibbles))
		g.nibbles = g.nibbles[:n*g.dim/2]
	}
	for s := from; s < n; s++ {
		scale := quantize(g.vector(uint32(s)), g.code(uint32(s)))
		g.scales = append(g.scales, scale)
		if nibbles {
			quantize4(g.vector(uint32(s)), scale, g.nibbleCode(uint32(s)))
		}
	}
}

// growHuge is slices.Grow for the graph's big arrays: a new backing array is
// advised onto huge pages (see adviseHugePages).
func growHuge[T any](s []T, n int) []T {
	if n <= cap(s)-len(s) {
		return s
	}
	s = slices.Grow(s, n)
	adviseHugePages(s[:cap(s)])
	return s
}

func (g *graph) vector(slot uint32) []float32 {
	start := int(slot) * g.dim
	return g.vectors[start : start+g.dim : start+g.dim]
}

// touch reads one byte in every 64 (a cache line) of each slot's code, or one
// float in every 256 bytes of its vector when the graph is not quantised, and
// returns their sum (for the caller to keep, so the reads are not optimised away).
// The reads do not depend on each other, so their cache misses overlap; the
// distances that follow then find the data in cache, or on its way, instead of
// missing one node at a time. At 100,000 nodes this is most of a walk's cost.
func (g *graph) touch(slots []uint32) float32 {
	if !g.quantized() {
		return touchVectors(g, slots)
	}
	var b int32
	var f float32
	for _, n := range slots {
		c := g.code(n)
		for i := 0; i < len(c); i += 64 {
			b += int32(c[i])
		}
		f += g.scales[n]
	}
	return float32(b) + f
}

// prefetch starts loading what distance from p will read for each of slots (the
// nibbles or the code, and the scale; or the vector) and returns at once, so the
// cache misses of a node's neighbours overlap each other and the arithmetic that
// follows. Where there is no prefetch instruction it falls back on touch, whose
// sum the caller keeps.
func (g *graph) prefetch(p probe, slots []uint32) float32 {
	switch {
	case !hasPrefetch:
		return g.touch(slots)
	case len(slots) == 0:
	case p.nibbles:
		prefetchSlots(unsafe.Pointer(unsafe.SliceData(g.nibbles)), g.dim/2, g.dim/2, slots)
		prefetchSlots(unsafe.Pointer(unsafe.SliceData(g.scales)), 4, 4, slots)
	case g.quantized():
		prefetchSlots(unsafe.Pointer(unsafe.SliceData(g.codes)), g.dim, g.dim, slots)
		prefetchSlots(unsafe.Pointer(unsafe.SliceData(g.scales)), 4, 4, slots)
	default:
		g.prefetchVectors(slots)
	}
	return 0
}

// prefetchVectors starts loading the full vectors of slots; it does nothing
// where there is no prefetch instruction.
func (g *graph) prefetchVectors(slots []uint32) {
	if len(slots) > 0 {
		prefetchSlots(unsafe.Pointer(unsafe.SliceData(g.vectors)), 4*g.dim, 4*g.dim, slots)
	}
}

// prefetchEdges starts loading slot's layer-0 list and its version (see
// neighbours); it does nothing where there is no prefetch instruction.
func (g *graph) prefetchEdges(slot uint32) {
	one := [1]uint32{slot}
	block := 4 * (g.m0 + 1)
	prefetchSlots(unsafe.Pointer(unsafe.SliceData(g.layer0)), block, block, one[:])
	prefetchSlots(unsafe.Pointer(unsafe.SliceData(g.version)), 4, 4, one[:])
}

// touchVectors is touch for the full vectors.
func touchVectors(g *graph, slots []uint32) float32 {
	var s float32
	for _, n := range slots {
		v := g.vector(n)
		for i := 0; i < len(v); i += 64 {
			s += v[i]
		}
	}
	return s
}

// distance is what walks compare: from the bytes when the graph is quantised.
func (g *graph) distance(p probe, slot uint32) float32 {
	if p.nibbles {
		return 1 - p.scale*g.scales[slot]*float32(dotInt4(p.code, g.nibbleCode(slot)))
	}
	if p.code != nil {
		return 1 - p.scale*g.scales[slot]*float32(dotInt8(p.code, g.code(slot)))
	}
	return 1 - Dot(p.vec, g.vector(slot))
}

// exactDistance is the distance from the full vectors.
func (g *graph) exactDistance(q []float32, slot uint32) float32 {
	return 1 - Dot(q, g.vector(slot))
}

// maxNeighbours is the degree bound of a layer.
func (g *graph) maxNeighbours(level int) int {
	if level == 0 {
		return g.m0
	}
	return g.m
}

// edgeBlock returns the count word and list storage of slot on level.
func (g *graph) edgeBlock(slot uint32, level int) []uint32 {
	if level == 0 {
		base := int(slot) * (g.m0 + 1)
		return g.layer0[base : base+g.m0+1]
	}
	base := (level - 1) * (g.m + 1)
	return g.upper[slot][base : base+g.m+1]
}

// neighbours appends slot's neighbours on level to buf and returns the list's
// version. Searches read lists far more often than inserts change them, so a read
// takes no lock: the version is odd while a change is written (see
// setNeighboursIf), and a read that saw it odd or changed is retried, at last
// under the stripe lock. Every word is read and written atomically.
func (g *graph) neighbours(slot uint32, level int, buf []uint32) ([]uint32, uint32) {
	block := g.edgeBlock(slot, level)
	start := len(buf)
	for range 3 {
		version := atomic.LoadUint32(&g.version[slot])
		if version&1 != 0 {
			continue
		}
		n := atomic.LoadUint32(&block[0])
		if int(n) >= len(block) {
			continue
		}
		for i := 1; i <= int(n); i++ {
			buf = append(buf, atomic.LoadUint32(&block[i]))
		}
		if atomic.LoadUint32(&g.version[slot]) == version {
			return buf, version
		}
		buf = buf[:start]
	}
	mu := &g.edgeMu[slot%edgeStripes]
	mu.Lock()
	defer mu.Unlock()
	n := atomic.LoadUint32(&block[0])
	for i := 1; i <= int(n); i++ {
		buf = append(buf, atomic.LoadUint32(&block[i]))
	}
	return buf, atomic.LoadUint32(&g.version[slot])
}

// setNeighboursIf replaces slot's list on level if its version is still
// version, and reports whether it did. The version is odd while the words are
// written and moves on by two.
func (g *graph) setNeighboursIf(slot uint32, level int, list []uint32, version uint32) bool {
	mu := &g.edgeMu[slot%edgeStripes]
	mu.Lock()
	defer mu.Unlock()
	if atomic.LoadUint32(&g.version[slot]) != version {
		return false
	}
	atomic.StoreUint32(&g.version[slot], version+1)
	block := g.edgeBlock(slot, level)
	atomic.StoreUint32(&block[0], uint32(len(list)))
	for i, n := range list {
		atomic.StoreUint32(&block[1+i], n)
	}
	atomic.StoreUint32(&g.version[slot], version+2)
	return true
}

// appendNode adds an unlinked node and returns its slot. Nothing points to it
// yet, so searches cannot reach it until it is linked. Needs the write lock.
func (g *graph) appendNode(id string, vec []float32, level int) uint32 {
	slot := uint32(len(g.ids))
	g.ids = append(g.ids, id)
	g.vectors = append(growHuge(g.vectors, len(vec)), vec...)
	g.encode(int(slot))
	g.levels = append(g.levels, uint8(level))
	g.layer0 = append(g.layer0, make([]uint32, g.m0+1)...)
	var block []uint32
	if level > 0 {
		block = make([]uint32, level*(g.m+1))
	}
	g.upper = append(g.upper, block)
	g.state = append(g.state, slotPending)
	g.version = append(g.version, 0)
	return slot
}

// addEdges adds edges from n to each of targets on level, retrying if
// another insert changes n's list meanwhile. A list past its degree bound is
// re-pruned with the selection heuristic, dropping edges to tombstones
// first. The distance work runs outside the stripe lock so searches passing
// n are not held up.
func (g *graph) addEdges(n uint32, level int, targets []uint32) {
	limit := g.maxNeighbours(level)
	buf := make([]uint32, 0, limit+len(targets))
	for {
		current, version := g.neighbours(n, level, buf[:0])
		list := current
		for _, t := range targets {
			if !slices.Contains(current, t) {
				list = append(list, t)
			}
		}
		if len(list) > limit {
			base := g.nodeProbe(n)
			pool := make([]candidate, 0, len(list))
			for _, c := range list {
				if g.state[c] != slotDeleted {
					pool = append(pool, candidate{dist: g.distance(base, c), slot: c})
				}
			}
			slices.SortFunc(pool, func(a, b candidate) int { return cmp.Compare(a.dist, b.dist) })
			list = g.selectNeighbours(pool, limit, nil)
		}
		if g.setNeighboursIf(n, level, list, version) {
			return
		}
	}
}

// greedyClosest walks level from ep, always moving to the nearest neighbour,
// until no neighbour is nearer: the cheap descent through the upper layers.
func (g *graph) greedyClosest(q probe, ep candidate, level int, seen *visitedSet) candidate {
	buf := seen.edges
	for moved := true; moved; {
		moved = false
		buf, _ = g.neighbours(ep.slot, level, buf[:0])
		seen.sink += g.prefetch(q, buf)
		for _, n := range buf {
			if d := g.distance(q, n); d < ep.dist {
				ep = candidate{dist: d, slot: n}
				moved = true
			}
		}
	}
	seen.edges = buf[:0]
	return ep
}

// searchLayer is the beam search of Malkov & Yashunin (algorithm 2). Every
// node is used to route, but only admitted ones (admit nil admits all) enter
// the result set, so tombstones and filtered-out items steer the search
// without being returned. It returns up to ef admitted candidates, in seen's
// storage until seen's next searchLayer.
func (g *graph) searchLayer(q probe, entries []candidate, ef, level int, admit func(uint32) bool, seen *visitedSet) maxQueue {
	seen.reset(len(g.ids))
	cands := slices.Grow(seen.cands[:0], ef*2)
	results := slices.Grow(seen.results[:0], ef+1)
	for _, e := range entries {
		if seen.testAndSet(e.slot) {
			continue
		}
		cands.push(e)
		if admit == nil || admit(e.slot) {
			results.pushBounded(e, ef)
		}
	}
	buf := slices.Grow(seen.edges[:0], g.m0)
	for len(cands) > 0 {
		c := cands.pop()
		if len(results) >= ef && c.dist > results[0].dist {
			break
		}
		if level == 0 && len(cands) > 0 {
			// The nearest one left is usually the next expanded: its list is
			// fetched while this node's neighbours are scored.
			g.prefetchEdges(cands[0].slot)
		}
		buf, _ = g.neighbours(c.slot, level, buf[:0])
		fresh := buf[:0]
		for _, n := range buf {
			if !seen.testAndSet(n) {
				fresh = append(fresh, n)
			}
		}
		seen.sink += g.prefetch(q, fresh)
		for _, n := range fresh {
			d := g.distance(q, n)
			if len(results) < ef || d < results[0].dist {
				cands.push(candidate{dist: d, slot: n})
				if admit == nil || admit(n) {
					results.pushBounded(candidate{dist: d, slot: n}, ef)
				}
			}
		}
	}
	seen.cands, seen.results, seen.edges = cands[:0], results, buf[:0]
	return results
}

// selectNeighbours is the heuristic of Malkov & Yashunin (algorithm 4):
// walking candidates nearest first, keep one only if it is nearer to the base
// than to every neighbour already kept. This keeps edges pointing in
// different directions, which is what lets the graph cross between clusters.
// sorted must be ascending by distance to the base; usable (nil for all)
// filters out candidates that must not become neighbours.
func (g *graph) selectNeighbours(sorted []candidate, limit int, usable func(uint32) bool) []uint32 {
	out := make([]uint32, 0, limit)
	for _, c := range sorted {
		if len(out) >= limit {
			break
		}
		if usable != nil && !usable(c.slot) {
			continue
		}
		vc := g.nodeProbe(c.slot)
		diverse := true
		for _, kept := range out {
			if g.distance(vc, kept) < c.dist {
				diverse = false
				break
			}
		}
		if diverse {
			out = append(out, c.slot)
		}
	}
	return out
}

// visitedSet marks slots seen by one search (see slotSet).
// It also carries the search's other scratch, reused by the searches (and
// insertions) that borrow it in turn: nothing in it is handed to a caller.
type visitedSet struct {
	marks slotSet
	sink  float32 // see touch

	query   []float32   // the normalised query
	code    []int8      // the query's probe code
	cands   minQueue    // searchLayer's frontier
	results maxQueue    // searchLayer's answer
	edges   []uint32    // neighbour lists as they are read
	best    []candidate // a layer's answer, nearest first
	slots   []uint32    // the answers' slots, whose vectors rescoring fetches
}

func (v *visitedSet) reset(n int) { v.marks.reset(n) }

// testAndSet marks slot and reports whether it was already marked.
func (v *visitedSet) testAndSet(slot uint32) bool { return v.marks.testAndSet(slot) }

// slotSet is a set of slots, a bit each. At 100,000 slots it is 12.5 KB, small
// enough to stay in the first-level cache through a search, where a uint16 stamp
// per slot (cleared by one increment) was 16 times that and missed; emptying it
// costs less than those misses did.
type slotSet []uint64

// reset empties the set and makes room for slots below n.
func (s *slotSet) reset(n int) {
	words := (n + 63) / 64
	if len(*s) < words {
		*s = make(slotSet, words+words/4+1)
		return
	}
	clear((*s)[:words])
}

// testAndSet adds slot and reports whether it was already there.
func (s slotSet) testAndSet(slot uint32) bool {
	w, bit := &s[slot/64], uint64(1)<<(slot%64)
	if *w&bit != 0 {
		return true
	}
	*w |= bit
	return false
}
