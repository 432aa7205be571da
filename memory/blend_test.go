package memory

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"memoryd/index"
	"memoryd/store"
)

// blend sums each memory's vector and keyword parts however the two lists
// overlap, ranks by relevance then newer id, and keeps every candidate once.
func TestBlendUnionAndOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var scratch retrieveScratch // reused by every round, as the engine's pool reuses one
	for round := 0; round < 200; round++ {
		pool := make([]string, 1+rng.Intn(150))
		for i := range pool {
			if round%4 == 0 {
				pool[i] = fmt.Sprint("m", i) // short ids too
			} else {
				pool[i] = store.NewID("mem_")
			}
		}
		pick := func(n int) []index.Result {
			seen := map[string]bool{}
			var out []index.Result
			for len(out) < n {
				id := pool[rng.Intn(len(pool))]
				if !seen[id] {
					seen[id] = true
					out = append(out, index.Result{ID: id, Score: rng.Float32()*1.2 - 0.1})
				}
			}
			sort.Slice(out, func(i, j int) bool { return out[i].Score > out[j].Score })
			return out
		}
		vres, kres := pick(rng.Intn(len(pool)/2+1)), pick(rng.Intn(len(pool)/2+1))
		want := map[string]float32{}
		for _, r := range vres {
			want[r.ID] += 0.5 * max(0, r.Score)
		}
		if len(kres) > 0 && kres[0].Score > 0 {
			for _, r := range kres {
				want[r.ID] += 0.5 * r.Score / kres[0].Score
			}
		}
		got := scratch.blend(vres, kres)
		if len(got) != len(want) {
			t.Fatalf("round %d: %d blended, want %d", round, len(got), len(want))
		}
		for i, g := range got {
			if w := roundScore(min(1, want[g.id])); g.score != w {
				t.Fatalf("round %d: %s scored %v, want %v", round, g.id, g.score, w)
			}
			if i > 0 && (got[i-1].score < g.score || got[i-1].score == g.score && got[i-1].id < g.id) {
				t.Fatalf("round %d: rank %d out of order: %v then %v", round, i, got[i-1], g)
			}
		}
	}
}

// BenchmarkBlend: the fifty vector and fifty keyword candidates of one query,
// a fifth of them in both lists.
func BenchmarkBlend(b *testing.B) {
	ids := make([]string, 90)
	for i := range ids {
		ids[i] = store.NewID("mem_")
	}
	var vres, kres []index.Result
	for i := 0; i < 50; i++ {
		vres = append(vres, index.Result{ID: ids[i], Score: 0.9 - float32(i)/100})
		kres = append(kres, index.Result{ID: ids[40+i], Score: 12 - float32(i)/10})
	}
	var scratch retrieveScratch
	for b.Loop() {
		scratch.blend(vres, kres)
	}
}
