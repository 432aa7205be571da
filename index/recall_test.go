package index

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// The large recall test builds one index of clustered vectors per test
// binary. Default runs use the size the issue asks for (100,000 x 384 drawn
// from 1,000 Gaussian clusters); -short runs, meant for -race, use a small one.
func recallScale() (n, clusters, queries, dim int) {
	if testing.Short() {
		return 2000, 20, 50, 64
	}
	return 100000, 1000, 200, 384
}

var clustered struct {
	once  sync.Once
	data  *dataset
	index *HNSW
	truth [][]string
}

// sharedClustered builds the clustered index and its ground truth once.
func sharedClustered(t *testing.T) (*dataset, *HNSW, [][]string) {
	t.Helper()
	clustered.once.Do(func() {
		n, clusters, queries, dim := recallScale()
		d := clusteredData(2026, n, queries, dim, clusters, 0.7)
		h := NewHNSW(d.dim, DefaultHNSWConfig())
		if err := h.AddBatch(d.ids, d.vectors, 2); err != nil {
			panic(err)
		}
		clustered.data, clustered.index, clustered.truth = d, h, groundTruth(d, 10)
	})
	return clustered.data, clustered.index, clustered.truth
}

// TestRecallClustered is the property test at full size: recall@10
// of the default parameters against exact search, a 1% filter, then random
// deletes, updates and inserts interleaved with searches.
func TestRecallClustered(t *testing.T) {
	d, h, truth := sharedClustered(t)

	t.Run("recall", func(t *testing.T) {
		recall := recallAt(10, d.queries, truth, func(q []float32, k int) []Result { return h.Search(q, k, nil) })
		t.Logf("clustered %d x %d, %d queries: recall@10 = %.4f (M %d, efConstruction %d, efSearch %d)",
			len(d.ids), d.dim, len(d.queries), recall, h.cfg.M, h.cfg.EfConstruction, h.cfg.EfSearch)
		if recall < 0.95 {
			t.Fatalf("recall@10 = %.4f, want >= 0.95", recall)
		}
	})

	m := newMirror(d.dim)
	for i, v := range d.vectors {
		m.add(d.ids[i], v)
	}

	t.Run("filter 1%", func(t *testing.T) {
		filter := func(id string) bool { return idNumber(id)%100 == 37 }
		for _, q := range d.queries[:20] {
			got := h.Search(q, 10, filter)
			if recall := m.check(t, got, q, 10, filter); len(got) != 10 || recall != 1 {
				t.Fatalf("1%% filter: %d results, recall %.2f; want the exact 10", len(got), recall)
			}
		}
	})

	t.Run("churn", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 7))
		ops := len(d.ids) / 20
		live := append([]string(nil), d.ids...)
		next := len(d.ids)
		var searches int
		for op := range ops {
			switch op % 4 {
			case 0: // delete
				i := rng.IntN(len(live))
				if !h.Delete(live[i]) {
					t.Fatalf("Delete(%s) = false", live[i])
				}
				m.remove(live[i])
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
			case 1: // update: move an item next to another one
				id := live[rng.IntN(len(live))]
				v := jitter(rng, m.vectors[live[rng.IntN(len(live))]], 0.2)
				if err := h.Add(id, v); err != nil {
					t.Fatal(err)
				}
				m.add(id, v)
			case 2: // insert
				id := itemID(next)
				next++
				v := jitter(rng, d.queries[rng.IntN(len(d.queries))], 0.3)
				if err := h.Add(id, v); err != nil {
					t.Fatal(err)
				}
				m.add(id, v)
				live = append(live, id)
			case 3: // search: cheap checks every time
				for _, r := range h.Search(d.queries[rng.IntN(len(d.queries))], 10, nil) {
					if _, ok := m.vectors[r.ID]; !ok {
						t.Fatalf("search returned deleted id %s", r.ID)
					}
				}
				searches++
			}
		}
		var recall float64
		queries := d.queries[:min(100, len(d.queries))]
		for _, q := range queries {
			recall += m.check(t, h.Search(q, 10, nil), q, 10, nil)
		}
		recall /= float64(len(queries))
		t.Logf("after %d mixed operations (%d searches; %d tombstones): recall@10 = %.4f",
			ops, searches, h.Tombstones(), recall)
		if recall < 0.95 {
			t.Fatalf("recall@10 after churn = %.4f, want >= 0.95", recall)
		}
	})
}

// jitter returns a unit vector near v.
func jitter(rng *rand.Rand, v []float32, amount float64) []float32 {
	out := make([]float32, len(v))
	sigma := amount / sqrt(float64(len(v)))
	for i := range v {
		out[i] = v[i] + float32(sigma*rng.NormFloat64())
	}
	return Normalize(out)
}

// TestRecallUniform reports recall on vectors spread uniformly over the
// sphere, where every point is nearly equidistant from every other: the
// worst case for any graph index, and far from what embeddings look like.
// It only guards against collapse; BENCHMARKS.md records the figures.
func TestRecallUniform(t *testing.T) {
	n, dim := 2000, 384
	if testing.Short() {
		n, dim = 1000, 64
	}
	d := uniformData(99, n, 100, dim)
	h := NewHNSW(d.dim, DefaultHNSWConfig())
	if err := h.AddBatch(d.ids, d.vectors, 2); err != nil {
		t.Fatal(err)
	}
	truth := groundTruth(d, 10)
	for _, ef := range []int{64, 256} {
		recall := recallAt(10, d.queries, truth, func(q []float32, k int) []Result { return h.SearchEf(q, k, ef, nil) })
		t.Logf("uniform %d x %d: recall@10 = %.4f at efSearch %d", n, d.dim, recall, ef)
		if ef == 256 && recall < 0.8 {
			t.Errorf("uniform recall@10 = %.4f at efSearch %d: the graph has collapsed", recall, ef)
		}
	}
}
