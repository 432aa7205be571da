package index

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// dataset is a set of unit vectors with ids, plus queries drawn from the
// same distribution but not stored.
type dataset struct {
	dim     int
	ids     []string
	vectors [][]float32
	queries [][]float32
}

func itemID(i int) string { return fmt.Sprintf("mem_%07d", i) }

func randomUnit(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return Normalize(v)
}

// clusteredData draws n vectors from a mixture of `clusters` Gaussians
// around random unit centres, the shape real sentence embeddings have: items
// about one topic sit together. spread is the noise norm relative to the
// centre; 0.7 gives a mean cosine of about 0.67 between two members of one
// cluster and about 0 across clusters.
func clusteredData(seed uint64, n, queries, dim, clusters int, spread float64) *dataset {
	rng := rand.New(rand.NewPCG(seed, 7))
	centres := make([][]float32, clusters)
	for i := range centres {
		centres[i] = randomUnit(rng, dim)
	}
	sigma := spread / sqrt(float64(dim))
	draw := func() []float32 {
		c := centres[rng.IntN(clusters)]
		v := make([]float32, dim)
		for i := range v {
			v[i] = c[i] + float32(sigma*rng.NormFloat64())
		}
		return Normalize(v)
	}
	d := &dataset{dim: dim}
	for i := 0; i < n; i++ {
		d.ids = append(d.ids, itemID(i))
		d.vectors = append(d.vectors, draw())
	}
	for i := 0; i < queries; i++ {
		d.queries = append(d.queries, draw())
	}
	return d
}

// uniformData draws vectors uniformly from the unit sphere: the hardest case
// for a graph index, as all points are nearly equidistant.
func uniformData(seed uint64, n, queries, dim int) *dataset {
	rng := rand.New(rand.NewPCG(seed, 11))
	d := &dataset{dim: dim}
	for i := 0; i < n; i++ {
		d.ids = append(d.ids, itemID(i))
		d.vectors = append(d.vectors, randomUnit(rng, dim))
	}
	for i := 0; i < queries; i++ {
		d.queries = append(d.queries, randomUnit(rng, dim))
	}
	return d
}

func sqrt(x float64) float64 {
	z := x
	for range 40 {
		z = (z + x/z) / 2
	}
	return z
}

// groundTruth returns the exact top k ids of every query.
func groundTruth(d *dataset, k int) [][]string {
	exact := NewExactMetric(d.dim, DotProduct)
	for i, v := range d.vectors {
		if err := exact.Add(d.ids[i], v); err != nil {
			panic(err)
		}
	}
	truth := make([][]string, len(d.queries))
	var wg sync.WaitGroup
	for i := range d.queries {
		wg.Go(func() {
			for _, r := range exact.Search(d.queries[i], k, nil) {
				truth[i] = append(truth[i], r.ID)
			}
		})
	}
	wg.Wait()
	return truth
}

// recallAt measures the share of the exact top k that search returns.
func recallAt(k int, queries [][]float32, truth [][]string, search func(q []float32, k int) []Result) float64 {
	var hit, total int
	for i, q := range queries {
		want := make(map[string]bool, k)
		for _, id := range truth[i] {
			want[id] = true
		}
		for _, r := range search(q, k) {
			if want[r.ID] {
				hit++
			}
		}
		total += len(truth[i])
	}
	return float64(hit) / float64(total)
}

func buildHNSW(d *dataset, cfg HNSWConfig) *HNSW {
	h := NewHNSW(d.dim, cfg)
	for i, v := range d.vectors {
		if err := h.Add(d.ids[i], v); err != nil {
			panic(err)
		}
	}
	return h
}

func rngFor(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }
