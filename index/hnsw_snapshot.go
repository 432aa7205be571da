package index

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
)

// Save writes a snapshot of the index to path atomically, labelled with the
// store state it reflects. The caller must make sure no write the label does
// not cover reaches the index while Save runs; the simplest way is to call it
// from the goroutine that applies writes. Readers are not blocked.
func (h *HNSW) Save(path, stateID string) error {
	return writeFileAtomic(path, func(w io.Writer) error { return h.WriteSnapshot(w, stateID) })
}

// WriteSnapshot writes the snapshot to w. See Save.
func (h *HNSW) WriteSnapshot(w io.Writer, stateID string) error {
	// Holding writeMu keeps the graph still; only writers mutate it, so it
	// can be read without mu and readers carry on.
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	g := h.g
	sw := newSnapshotWriter(w, kindHNSW, stateID)
	sw.u32(uint32(h.dim))
	sw.u8(uint8(h.cfg.Metric))
	sw.u32(uint32(h.cfg.M))
	sw.u32(uint32(h.cfg.EfConstruction))
	sw.u32(uint32(h.cfg.EfSearch))
	sw.u64(h.cfg.Seed)
	sw.u64(math.Float64bits(h.cfg.MaxTombstoneShare))
	sw.u32(uint32(len(g.ids)))
	entry, top := g.entryPoint()
	sw.u32(entry)
	sw.u32(uint32(int32(top)))
	for slot, id := range g.ids {
		sw.str(id)
		sw.u8(uint8(g.state[slot]))
		sw.u8(g.levels[slot])
	}
	sw.floats(g.vectors)
	sw.words(g.layer0)
	for _, block := range g.upper {
		sw.words(block)
	}
	return sw.finish()
}

// LoadHNSW reads a snapshot written by Save. It returns ErrSnapshotStale when
// the snapshot was taken at a state other than wantStateID, and
// ErrSnapshotCorrupt (or ErrSnapshotVersion) when it cannot be trusted; in
// every such case the caller must rebuild from the store.
func LoadHNSW(path, wantStateID string) (*HNSW, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return readHNSW(f, wantStateID, info.Size())
}

// ReadHNSWSnapshot reads a snapshot from r. See LoadHNSW.
func ReadHNSWSnapshot(r io.Reader, wantStateID string) (*HNSW, error) {
	return readHNSW(r, wantStateID, 0)
}

// readHNSW decodes a snapshot. size, when known, bounds every allocation so a
// damaged count is caught before it costs memory.
func readHNSW(r io.Reader, wantStateID string, size int64) (*HNSW, error) {
	sr, kind, err := openSnapshot(r, wantStateID)
	if err != nil {
		return nil, err
	}
	if kind != kindHNSW {
		return nil, fmt.Errorf("%w: not an HNSW snapshot", ErrSnapshotCorrupt)
	}
	return readHNSWBody(sr, size)
}

func readHNSWBody(sr *snapshotReader, size int64) (*HNSW, error) {
	dim := int(sr.u32())
	var cfg HNSWConfig
	cfg.Metric = Metric(sr.u8())
	cfg.M = int(sr.u32())
	cfg.EfConstruction = int(sr.u32())
	cfg.EfSearch = int(sr.u32())
	cfg.Seed = sr.u64()
	cfg.MaxTombstoneShare = math.Float64frombits(sr.u64())
	slots := int(sr.u32())
	entry := sr.u32()
	top := int(int32(sr.u32()))
	if sr.err != nil {
		return nil, sr.err
	}
	if dim <= 0 || dim > 1<<16 || cfg.M < 2 || cfg.M > 1<<10 || cfg.Metric > DotProduct ||
		cfg.EfConstruction <= 0 || cfg.EfSearch <= 0 || top < -1 || top > maxLevel {
		return nil, fmt.Errorf("%w: bad header", ErrSnapshotCorrupt)
	}
	if size > 0 && int64(slots)*int64(dim)*4 > size {
		return nil, fmt.Errorf("%w: %d slots cannot fit in %d bytes", ErrSnapshotCorrupt, slots, size)
	}

	h := NewHNSW(dim, cfg)
	g := h.g
	g.ids = make([]string, slots)
	g.levels = make([]uint8, slots)
	g.state = make([]slotState, slots)
	g.version = make([]uint32, slots)
	for s := range slots {
		g.ids[s] = sr.str()
		g.state[s] = slotState(sr.u8())
		g.levels[s] = sr.u8()
		if sr.err != nil {
			return nil, sr.err
		}
	}
	g.vectors = make([]float32, slots*dim)
	adviseHugePages(g.vectors)
	sr.floats(g.vectors)
	g.encode(0)
	g.layer0 = make([]uint32, slots*(g.m0+1))
	sr.words(g.layer0)
	g.upper = make([][]uint32, slots)
	for s, level := range g.levels {
		if level > 0 && sr.err == nil {
			g.upper[s] = make([]uint32, int(level)*(g.m+1))
			sr.words(g.upper[s])
		}
	}
	if err := sr.verify(); err != nil {
		return nil, err
	}

	// The checksum proves the bytes are the ones written; these checks prove
	// the writer was sane, so no search can index out of range.
	for s, id := range g.ids {
		if int(g.levels[s]) > top {
			return nil, fmt.Errorf("%w: slot %d above the top level", ErrSnapshotCorrupt, s)
		}
		for l := 0; l <= int(g.levels[s]); l++ {
			block, base, limit := g.layer0, s*(g.m0+1), g.m0
			if l > 0 {
				block, base, limit = g.upper[s], (l-1)*(g.m+1), g.m
			}
			n := int(block[base])
			if n > limit {
				return nil, fmt.Errorf("%w: slot %d has %d neighbours", ErrSnapshotCorrupt, s, n)
			}
			for _, nb := range block[base+1 : base+1+n] {
				if int(nb) >= slots || int(g.levels[nb]) < l {
					return nil, fmt.Errorf("%w: slot %d has a bad edge", ErrSnapshotCorrupt, s)
				}
			}
		}
		if g.state[s] != slotLive && g.state[s] != slotDeleted {
			return nil, fmt.Errorf("%w: slot %d in state %d", ErrSnapshotCorrupt, s, g.state[s])
		}
		if g.state[s] == slotLive {
			if _, dup := g.slots[id]; dup || id == "" {
				return nil, fmt.Errorf("%w: id %q repeated or empty", ErrSnapshotCorrupt, id)
			}
			g.slots[id] = uint32(s)
		}
	}
	g.live = len(g.slots)
	if slots > 0 && (int(entry) >= slots || int(g.levels[entry]) != top) || slots == 0 && top != -1 {
		return nil, fmt.Errorf("%w: bad entry point", ErrSnapshotCorrupt)
	}
	if slots > 0 {
		g.setEntryPoint(entry, top)
	}
	// Continue the level sequence somewhere new rather than replaying the
	// draws the saved graph already used.
	h.rng = rand.New(rand.NewPCG(cfg.Seed, uint64(slots)))
	return h, nil
}

// LoadOrBuildHNSW loads the snapshot at path if it matches stateID, and
// otherwise builds a fresh index by calling source, which must feed every
// item of the store to add. It reports whether the snapshot was used and,
// when it was not, why (nil when the file simply did not exist). A rebuilt
// index is saved back to path so the next start is fast; if that save fails
// the index is still returned, with the save error.
func LoadOrBuildHNSW(path, stateID string, dim int, cfg HNSWConfig, source func(add func(id string, vec []float32) error) error) (h *HNSW, loaded bool, reason error, err error) {
	h, reason = LoadHNSW(path, stateID)
	if reason == nil {
		if h.dim == dim {
			return h, true, nil, nil
		}
		reason = fmt.Errorf("%w: dimension %d, want %d", ErrSnapshotStale, h.dim, dim)
	}
	if os.IsNotExist(reason) {
		reason = nil
	}
	h = NewHNSW(dim, cfg)
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
	if err := h.AddBatch(ids, vecs, compactWorkers); err != nil {
		return nil, false, reason, err
	}
	return h, false, reason, h.Save(path, stateID)
}
