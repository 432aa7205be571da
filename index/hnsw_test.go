package index

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// mirror is the exact index a property test checks the HNSW against, plus
// the set of ids deleted and not re-added.
type mirror struct {
	exact   *Exact
	vectors map[string][]float32
	deleted map[string]bool
}

func newMirror(dim int) *mirror {
	return &mirror{exact: NewExactMetric(dim, DotProduct), vectors: map[string][]float32{}, deleted: map[string]bool{}}
}

func (m *mirror) add(id string, v []float32) {
	m.exact.Add(id, v)
	m.vectors[id] = v
	delete(m.deleted, id)
}

func (m *mirror) remove(id string) {
	m.exact.Delete(id)
	delete(m.vectors, id)
	m.deleted[id] = true
}

// check asserts what must hold of every answer, whatever the recall: no
// deleted or unknown id, no repeats, the right scores, best first, and k
// results whenever k items exist. It returns the answer's recall@k.
func (m *mirror) check(t *testing.T, got []Result, q []float32, k int, filter func(string) bool) float64 {
	t.Helper()
	want := m.exact.Search(q, k, filter)
	if len(got) != len(want) {
		t.Fatalf("got %d results, exact search has %d", len(got), len(want))
	}
	seen := map[string]bool{}
	for i, r := range got {
		v, ok := m.vectors[r.ID]
		if !ok {
			t.Fatalf("result %q is deleted or unknown (deleted: %v)", r.ID, m.deleted[r.ID])
		}
		if seen[r.ID] {
			t.Fatalf("result %q repeated", r.ID)
		}
		seen[r.ID] = true
		if filter != nil && !filter(r.ID) {
			t.Fatalf("result %q does not pass the filter", r.ID)
		}
		if score := Dot(q, v); math.Abs(float64(score-r.Score)) > 1e-4 {
			t.Fatalf("result %q has score %v, its vector scores %v", r.ID, r.Score, score)
		}
		if i > 0 && r.Distance < got[i-1].Distance {
			t.Fatalf("results out of order at %d: %+v", i, got)
		}
	}
	if len(want) == 0 {
		return 1
	}
	hit := 0
	for _, w := range want {
		if seen[w.ID] {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}

// TestHNSWRandomOperations interleaves inserts, updates, deletes (enough to
// force compactions) and plain and filtered searches, checking every answer
// against an exact mirror.
func TestHNSWRandomOperations(t *testing.T) {
	const dim, k = 24, 10
	ops := 12000
	if testing.Short() {
		ops = 3000
	}
	rng := rand.New(rand.NewPCG(42, 42))
	centres := make([][]float32, 30)
	for i := range centres {
		centres[i] = randomUnit(rng, dim)
	}
	draw := func() []float32 {
		c := centres[rng.IntN(len(centres))]
		v := make([]float32, dim)
		for i := range v {
			v[i] = c[i] + float32(0.15*rng.NormFloat64())
		}
		return Normalize(v)
	}
	cfg := DefaultHNSWConfig()
	cfg.M, cfg.EfConstruction = 8, 48
	h := NewHNSW(dim, cfg)
	m := newMirror(dim)
	var ids []string
	var recallSum float64
	var searches, compactions int
	for op := range ops {
		switch p := rng.Float64(); {
		case p < 0.45 || len(ids) < 50:
			id := itemID(op)
			v := draw()
			if err := h.Add(id, v); err != nil {
				t.Fatal(err)
			}
			m.add(id, v)
			ids = append(ids, id)
		case p < 0.60:
			id := ids[rng.IntN(len(ids))]
			v := draw()
			if err := h.Add(id, v); err != nil {
				t.Fatal(err)
			}
			m.add(id, v)
		case p < 0.75:
			i := rng.IntN(len(ids))
			before := h.Tombstones()
			if !h.Delete(ids[i]) {
				t.Fatalf("Delete(%s) = false for a live id", ids[i])
			}
			if h.Tombstones() < before {
				compactions++
			}
			m.remove(ids[i])
			ids[i] = ids[len(ids)-1]
			ids = ids[:len(ids)-1]
		default:
			q := draw()
			var filter func(string) bool
			if rng.IntN(3) == 0 {
				digit := byte('0' + rng.IntN(10))
				filter = func(id string) bool { return id[len(id)-1] == digit }
			}
			recallSum += m.check(t, h.Search(q, k, filter), q, k, filter)
			searches++
		}
		if h.Len() != len(ids) {
			t.Fatalf("after op %d Len = %d, want %d", op, h.Len(), len(ids))
		}
	}
	for id := range m.deleted {
		if h.Delete(id) {
			t.Fatalf("Delete(%s) = true for a deleted id", id)
		}
	}
	recall := recallSum / float64(searches)
	t.Logf("%d ops, %d searches, %d compactions, mean recall@%d %.4f", ops, searches, compactions, k, recall)
	if compactions == 0 {
		t.Error("no compaction happened; the test does not cover rebuilds")
	}
	if recall < 0.95 {
		t.Errorf("recall@%d = %.4f, want >= 0.95", k, recall)
	}
}

// TestHNSWFilteredSearchRare asks for 10 results when 1% of items pass the
// filter: the graph walk alone would find few of them, so the index must
// notice and still return the exact 10 best passing items.
func TestHNSWFilteredSearchRare(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	d := clusteredData(3, n, 30, 48, 100, 0.7)
	h := NewHNSW(d.dim, DefaultHNSWConfig())
	if err := h.AddBatch(d.ids, d.vectors, 2); err != nil {
		t.Fatal(err)
	}
	m := newMirror(d.dim)
	for i, v := range d.vectors {
		m.add(d.ids[i], v)
	}
	for _, share := range []int{100, 20, 3} { // 1%, 5%, 33% pass
		filter := func(id string) bool { return idNumber(id)%share == 0 }
		var recall float64
		for _, q := range d.queries {
			got := h.Search(q, 10, filter)
			if len(got) != 10 {
				t.Fatalf("1/%d filter: %d results, want 10", share, len(got))
			}
			recall += m.check(t, got, q, 10, filter)
		}
		recall /= float64(len(d.queries))
		t.Logf("filter passing 1/%d: recall@10 %.4f", share, recall)
		if share >= 20 && recall != 1 {
			t.Errorf("filter passing 1/%d: recall %.4f, want exact answers", share, recall)
		}
		if recall < 0.95 {
			t.Errorf("filter passing 1/%d: recall %.4f, want >= 0.95", share, recall)
		}
	}
	// A filter admitting fewer items than k returns exactly those.
	few := func(id string) bool { return id == d.ids[7] || id == d.ids[4242%n] }
	if got := h.Search(d.queries[0], 10, few); len(got) != 2 {
		t.Fatalf("filter admitting 2 items returned %d", len(got))
	}
}

func idNumber(id string) int {
	n := 0
	for _, c := range strings.TrimPrefix(id, "mem_") {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestHNSWConcurrentReadersOneWriter runs searches beside a writer that adds,
// replaces, deletes and batch-adds; under -race it also proves the locking.
func TestHNSWConcurrentReadersOneWriter(t *testing.T) {
	const dim = 16
	rng := rand.New(rand.NewPCG(5, 5))
	h := NewHNSW(dim, HNSWConfig{M: 8, EfConstruction: 32})
	// "keep" items stay live throughout; "gone" items are deleted before the
	// readers start and must never be seen.
	for i := range 300 {
		h.Add("keep_"+itemID(i), randomUnit(rng, dim))
		h.Add("gone_"+itemID(i), randomUnit(rng, dim))
	}
	for i := range 300 {
		h.Delete("gone_" + itemID(i))
	}
	queries := make([][]float32, 64)
	for i := range queries {
		queries[i] = randomUnit(rng, dim)
	}

	var stop atomic.Bool
	var searches atomic.Int64
	var wg sync.WaitGroup
	failures := make(chan string, 4)
	for r := range 4 {
		wg.Go(func() {
			for i := r; !stop.Load(); i++ {
				got := h.Search(queries[i%len(queries)], 10, nil)
				if len(got) != 10 {
					failures <- "short answer"
					return
				}
				seen := map[string]bool{}
				for j, res := range got {
					if strings.HasPrefix(res.ID, "gone_") || seen[res.ID] ||
						(j > 0 && res.Distance < got[j-1].Distance) {
						failures <- "bad answer: " + res.ID
						return
					}
					seen[res.ID] = true
				}
				searches.Add(1)
			}
		})
	}

	writes := 1500
	if testing.Short() {
		writes = 200
	}
	for i := range writes {
		switch i % 4 {
		case 0, 1:
			h.Add("new_"+itemID(i), randomUnit(rng, dim))
		case 2:
			h.Add("keep_"+itemID(rng.IntN(300)), randomUnit(rng, dim))
		case 3:
			h.Delete("new_" + itemID(i-3))
		}
		if i%100 == 0 {
			ids := []string{"batch_" + itemID(i), "batch_" + itemID(i+1), "batch_" + itemID(i+2)}
			vecs := [][]float32{randomUnit(rng, dim), randomUnit(rng, dim), randomUnit(rng, dim)}
			if err := h.AddBatch(ids, vecs, 2); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Fatal(f)
	}
	if searches.Load() == 0 {
		t.Fatal("no search completed")
	}
	t.Logf("%d searches beside %d writes", searches.Load(), writes)
}

func TestHNSWAddBatchIsAllOrNothing(t *testing.T) {
	h := NewHNSW(2, DefaultHNSWConfig())
	err := h.AddBatch([]string{"a", "b"}, [][]float32{{1, 0}, {1}}, 2)
	if err == nil || h.Len() != 0 {
		t.Fatalf("bad batch: err %v, Len %d; want an error and nothing added", err, h.Len())
	}
	if err := h.AddBatch([]string{"a", "b", "a"}, [][]float32{{1, 0}, {0, 1}, {-1, 0}}, 2); err != nil {
		t.Fatal(err)
	}
	got := h.Search([]float32{-1, 0}, 1, nil)
	if h.Len() != 2 || len(got) != 1 || got[0].ID != "a" || got[0].Score < 0.99 {
		t.Fatalf("repeated id in batch: Len %d, top %+v; want the last vector of a to win", h.Len(), got)
	}
}

func TestHNSWCompactKeepsItems(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	h := NewHNSW(8, HNSWConfig{MaxTombstoneShare: 0.9})
	vecs := map[string][]float32{}
	for i := range 400 {
		vecs[itemID(i)] = randomUnit(rng, 8)
		h.Add(itemID(i), vecs[itemID(i)])
	}
	for i := 0; i < 400; i += 2 {
		h.Delete(itemID(i))
		delete(vecs, itemID(i))
	}
	if h.Tombstones() != 200 {
		t.Fatalf("Tombstones = %d, want 200", h.Tombstones())
	}
	h.Compact()
	if h.Tombstones() != 0 || h.Len() != 200 {
		t.Fatalf("after Compact: Tombstones %d, Len %d; want 0, 200", h.Tombstones(), h.Len())
	}
	for id, v := range vecs {
		got := h.Search(v, 1, nil)
		if len(got) != 1 || got[0].ID != id {
			t.Fatalf("item %s not found by its own vector after compaction: %+v", id, got)
		}
	}
}

// A slot set holds what was added since its last reset, and nothing from before:
// searches that borrow one in turn never see each other's marks.
func TestSlotSet(t *testing.T) {
	var s slotSet
	s.reset(100)
	for _, slot := range []uint32{0, 63, 64, 99} {
		if s.testAndSet(slot) {
			t.Fatalf("slot %d present in a new set", slot)
		}
		if !s.testAndSet(slot) {
			t.Fatalf("slot %d absent after adding it", slot)
		}
	}
	if s.testAndSet(1) || s.testAndSet(65) {
		t.Fatal("a slot never added is present")
	}
	s.reset(100)
	for _, slot := range []uint32{0, 1, 63, 64, 65, 99} {
		if s.testAndSet(slot) {
			t.Fatalf("slot %d survived the reset", slot)
		}
	}
	s.reset(10_000) // grows
	if s.testAndSet(9_999) || !s.testAndSet(9_999) {
		t.Fatal("the grown set does not hold its last slot")
	}
}
