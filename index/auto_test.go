package index

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// TestAutoSwitchesAtCrossover grows an adaptive index past its crossover and
// shrinks it back, checking that answers stay exact-quality throughout.
func TestAutoSwitchesAtCrossover(t *testing.T) {
	const dim, crossover = 16, 200
	rng := rand.New(rand.NewPCG(8, 8))
	a := NewAutoCrossover(dim, DefaultHNSWConfig(), crossover)
	m := newMirror(dim)
	check := func(stage string) {
		for range 10 {
			q := randomUnit(rng, dim)
			if recall := m.check(t, a.Search(q, 5, nil), q, 5, nil); recall < 0.8 {
				t.Fatalf("%s: recall %.2f", stage, recall)
			}
		}
	}
	for i := range crossover - 1 {
		v := randomUnit(rng, dim)
		a.Add(itemID(i), v)
		m.add(itemID(i), v)
	}
	if a.UsesHNSW() {
		t.Fatal("switched to HNSW below the crossover")
	}
	check("exact")
	v := randomUnit(rng, dim)
	a.Add(itemID(crossover), v)
	m.add(itemID(crossover), v)
	if !a.UsesHNSW() || a.Len() != crossover {
		t.Fatalf("at the crossover: UsesHNSW %v Len %d", a.UsesHNSW(), a.Len())
	}
	check("hnsw")
	// Hysteresis: dropping just below the crossover keeps HNSW.
	for i := range 10 {
		a.Delete(itemID(i))
		m.remove(itemID(i))
	}
	if !a.UsesHNSW() {
		t.Fatal("switched back to exact just below the crossover")
	}
	for i := 10; i < crossover/2+10; i++ {
		a.Delete(itemID(i))
		m.remove(itemID(i))
	}
	if a.UsesHNSW() || a.Len() != len(m.vectors) {
		t.Fatalf("below half the crossover: UsesHNSW %v Len %d, want exact with %d", a.UsesHNSW(), a.Len(), len(m.vectors))
	}
	check("exact again")
}

func TestAutoSnapshotBothModes(t *testing.T) {
	const dim = 8
	rng := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{30, 120} {
		a := NewAutoCrossover(dim, DefaultHNSWConfig(), 100)
		for i := range n {
			a.Add(itemID(i), randomUnit(rng, dim))
		}
		path := filepath.Join(t.TempDir(), "auto.snap")
		if err := a.Save(path, "v9"); err != nil {
			t.Fatal(err)
		}
		loaded, err := LoadAuto(path, "v9", DefaultHNSWConfig(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if loaded.UsesHNSW() != a.UsesHNSW() || loaded.Len() != n {
			t.Fatalf("n=%d: loaded UsesHNSW %v Len %d, want %v %d", n, loaded.UsesHNSW(), loaded.Len(), a.UsesHNSW(), n)
		}
		q := randomUnit(rng, dim)
		if got, want := loaded.Search(q, 5, nil), a.Search(q, 5, nil); !slices.Equal(got, want) {
			t.Fatalf("n=%d: loaded answers %v, original %v", n, got, want)
		}
		if _, err := LoadAuto(path, "v10", DefaultHNSWConfig(), 100); !errors.Is(err, ErrSnapshotStale) {
			t.Fatalf("n=%d: stale load err = %v", n, err)
		}
	}
}

func TestLoadOrBuildAuto(t *testing.T) {
	const dim = 8
	rng := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{50, ExactCrossover + 50} {
		items := map[string][]float32{}
		for i := range n {
			items[itemID(i)] = randomUnit(rng, dim)
		}
		source := func(add func(string, []float32) error) error {
			for id, v := range items {
				if err := add(id, v); err != nil {
					return err
				}
			}
			return nil
		}
		path := filepath.Join(t.TempDir(), "auto.snap")
		a, loaded, reason, err := LoadOrBuildAuto(path, "s1", dim, DefaultHNSWConfig(), source)
		if err != nil || loaded || reason != nil || a.Len() != n || a.UsesHNSW() != (n >= ExactCrossover) {
			t.Fatalf("n=%d first start: err %v loaded %v reason %v Len %d UsesHNSW %v", n, err, loaded, reason, a.Len(), a.UsesHNSW())
		}
		a, loaded, _, err = LoadOrBuildAuto(path, "s1", dim, DefaultHNSWConfig(), source)
		if err != nil || !loaded || a.Len() != n {
			t.Fatalf("n=%d second start: err %v loaded %v Len %d", n, err, loaded, a.Len())
		}
		_, loaded, reason, err = LoadOrBuildAuto(path, "s2", dim, DefaultHNSWConfig(), source)
		if err != nil || loaded || !errors.Is(reason, ErrSnapshotStale) {
			t.Fatalf("n=%d stale: err %v loaded %v reason %v", n, err, loaded, reason)
		}
		for id, v := range items {
			if got := a.Search(v, 1, nil); len(got) != 1 || got[0].ID != id {
				t.Fatalf("n=%d: %s not found by its own vector", n, id)
			}
			break
		}
	}
}

func TestAutoAddBatch(t *testing.T) {
	const dim = 8
	rng := rand.New(rand.NewPCG(12, 12))
	a := NewAutoCrossover(dim, DefaultHNSWConfig(), 100)
	batch := func(from, to int) ([]string, [][]float32) {
		var ids []string
		var vecs [][]float32
		for i := from; i < to; i++ {
			ids = append(ids, itemID(i))
			vecs = append(vecs, randomUnit(rng, dim))
		}
		return ids, vecs
	}
	ids, vecs := batch(0, 40)
	if err := a.AddBatch(ids, vecs); err != nil || a.UsesHNSW() || a.Len() != 40 {
		t.Fatalf("small batch: err %v UsesHNSW %v Len %d", err, a.UsesHNSW(), a.Len())
	}
	ids, vecs = batch(40, 80)
	vecs[5] = []float32{1}
	if err := a.AddBatch(ids, vecs); err == nil || a.Len() != 40 {
		t.Fatalf("bad batch: err %v Len %d; want an error and nothing added", err, a.Len())
	}
	ids, vecs = batch(40, 200)
	if err := a.AddBatch(ids, vecs); err != nil || !a.UsesHNSW() || a.Len() != 200 {
		t.Fatalf("crossing batch: err %v UsesHNSW %v Len %d", err, a.UsesHNSW(), a.Len())
	}
	for i, id := range ids {
		if got := a.Search(vecs[i], 1, nil); len(got) != 1 || got[0].ID != id {
			t.Fatalf("%s not found by its own vector: %+v", id, got)
		}
	}
}
