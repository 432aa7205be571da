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

// SearchAmong ranks and scores the listed documents exactly as Search does with a
// filter admitting the same documents, and never returns one outside the list.
func TestKeywordSearchAmongMatchesFilteredSearch(t *testing.T) {
	kw := NewKeyword()
	texts := map[string]string{
		"a": "the quick brown fox jumps over the lazy dog",
		"b": "a quick brown dog naps in the sun",
		"c": "foxes and dogs and more foxes",
		"d": "nothing about animals at all here",
		"e": "quick quick quick fox",
		"f": "a dog, a fox and a quick reply",
	}
	for id, text := range texts {
		if err := kw.Add(id, text); err != nil {
			t.Fatal(err)
		}
	}
	kw.Delete("f") // a deleted document's postings stay until compaction
	among := []string{"a", "c", "e", "f", "unknown"}
	in := map[string]bool{"a": true, "c": true, "e": true, "f": true}
	want := kw.Search("quick fox dog", 10, func(id string) bool { return in[id] })
	got := kw.SearchAmong("quick fox dog", 10, among)
	if len(want) != 3 || len(got) != len(want) {
		t.Fatalf("got %v, want %v (3 results)", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("result %d: got %v, want %v", i, got[i], want[i])
		}
	}
	if r := kw.SearchAmong("quick fox dog", 10, []string{}); len(r) != 0 {
		t.Fatalf("empty list gave %v", r)
	}
}
