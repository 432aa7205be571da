package index

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// SearchAmong equals an exact search filtered to the same ids, on both kinds of
// index, and ignores ids that are absent or deleted.
func TestSearchAmongMatchesFilteredExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const dim, n = 32, 2000
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return Normalize(v)
	}
	exact := NewExact(dim)
	hnsw := NewHNSW(dim, DefaultHNSWConfig())
	for i := 0; i < n; i++ {
		v := vec()
		id := fmt.Sprintf("m%d", i)
		if err := exact.Add(id, v); err != nil {
			t.Fatal(err)
		}
		if err := hnsw.Add(id, v); err != nil {
			t.Fatal(err)
		}
	}
	exact.Delete("m7")
	hnsw.Delete("m7")
	var among []string
	in := map[string]bool{}
	for i := 0; i < n; i += 37 {
		id := fmt.Sprintf("m%d", i)
		among = append(among, id)
		in[id] = true
	}
	among = append(among, "m7", "absent")
	for q := 0; q < 20; q++ {
		query := vec()
		want := exact.Search(query, 10, func(id string) bool { return in[id] })
		for name, got := range map[string][]Result{"exact": exact.SearchAmong(query, 10, among), "hnsw": hnsw.SearchAmong(query, 10, among)} {
			if len(got) != len(want) {
				t.Fatalf("%s: %d results, want %d", name, len(got), len(want))
			}
			for i := range got {
				if got[i].ID != want[i].ID || got[i].ID == "m7" {
					t.Fatalf("%s result %d = %s, want %s", name, i, got[i].ID, want[i].ID)
				}
			}
		}
	}
}

// BM25 over TermStats gives the keyword index's own scores.
func TestBM25MatchesKeywordSearch(t *testing.T) {
	kw := NewKeyword()
	texts := map[string]string{
		"a": "the quick brown fox jumps over the lazy dog",
		"b": "a quick brown dog naps in the sun",
		"c": "foxes and dogs and more foxes",
		"d": "nothing about animals at all here",
	}
	for id, text := range texts {
		if err := kw.Add(id, text); err != nil {
			t.Fatal(err)
		}
	}
	query := "quick fox dog"
	terms := Tokenize(query)
	docs, avg, df := kw.TermStats(terms)
	for _, r := range kw.Search(query, 10, nil) {
		got := BM25(terms, Tokenize(texts[r.ID]), docs, avg, df)
		if d := got - float64(r.Score); d > 1e-4 || d < -1e-4 {
			t.Fatalf("%s: BM25 %v, index %v", r.ID, got, r.Score)
		}
	}
}
