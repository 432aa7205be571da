package index

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
)

func TestTokenize(t *testing.T) {
	cases := map[string][]string{
		"The user's Memories, running 5 tasks — café!": {"user", "memory", "running", "5", "task", "café"},
		"status analysis glass boxes wishes":           {"status", "analysis", "glass", "box", "wish"},
		"Tokyo-2024 東京":                                {"tokyo", "2024", "東京"},
		"the and of":                                   nil,
		"":                                             nil,
	}
	for in, want := range cases {
		if got := Tokenize(in); !slices.Equal(got, want) {
			t.Errorf("Tokenize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeywordBM25Scores(t *testing.T) {
	k := NewKeyword()
	k.Add("d1", "apple banana")
	k.Add("d2", "apple apple cherry")
	k.Add("d3", "banana")
	// Okapi BM25 by hand: N=3, average length 2, "apple" in 2 documents.
	idf := math.Log(1 + (3-2+0.5)/(2+0.5))
	bm25 := func(tf, length float64) float64 {
		return idf * tf * (1.2 + 1) / (tf + 1.2*(1-0.75+0.75*length/2))
	}
	got := k.Search("Apples", 10, nil)
	if len(got) != 2 || got[0].ID != "d2" || got[1].ID != "d1" {
		t.Fatalf("Search = %+v, want d2 then d1", got)
	}
	for i, want := range []float64{bm25(2, 3), bm25(1, 2)} {
		if math.Abs(float64(got[i].Score)-want) > 1e-5 {
			t.Errorf("score of %s = %v, want %v", got[i].ID, got[i].Score, want)
		}
	}
	// Terms add up: d1 holds both query terms and now leads.
	if got := k.Search("apple banana", 1, nil); got[0].ID != "d1" {
		t.Errorf("two-term query led by %s, want d1", got[0].ID)
	}
	if got := k.Search("apple", 10, func(id string) bool { return id != "d2" }); len(got) != 1 || got[0].ID != "d1" {
		t.Errorf("filtered Search = %+v, want d1 only", got)
	}
	if got := k.Search("durian", 10, nil); len(got) != 0 {
		t.Errorf("unknown term matched %+v", got)
	}
}

func TestKeywordUpdateAndDelete(t *testing.T) {
	k := NewKeyword()
	k.Add("a", "likes hiking in the alps")
	k.Add("b", "allergic to peanuts")
	k.Add("a", "likes sailing")
	if got := k.Search("hiking", 5, nil); len(got) != 0 {
		t.Fatalf("replaced text still matches: %+v", got)
	}
	if got := k.Search("sailing", 5, nil); len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("new text does not match: %+v", got)
	}
	if !k.Delete("b") || k.Delete("b") || k.Len() != 1 {
		t.Fatal("Delete should succeed once and leave one document")
	}
	if got := k.Search("peanuts", 5, nil); len(got) != 0 {
		t.Fatalf("deleted document matches: %+v", got)
	}
}

// TestKeywordCompaction deletes most documents, forcing postings to be
// rewritten, and checks that ranking equals a fresh index of the survivors.
func TestKeywordCompaction(t *testing.T) {
	words := []string{"red", "green", "blue", "cat", "dog", "bird", "tea", "coffee", "rain", "snow"}
	text := func(i int) string {
		return fmt.Sprintf("%s %s %s %s", words[i%10], words[(i/10)%10], words[(i*7)%10], words[(i/3)%10])
	}
	k, fresh := compactedAndFresh(t, 1000, func(i int) bool { return i%5 == 0 }, text)
	sameRanking(t, k, fresh, []string{"red cat", "snow", "coffee tea dog"}, 20)
}

// compactedAndFresh adds n documents to one index, then deletes all but those keep
// picks, and adds just those to a fresh index. Most must go, so the first index
// compacts.
func compactedAndFresh(t *testing.T, n int, keep func(int) bool, text func(int) string) (k, fresh *Keyword) {
	t.Helper()
	k, fresh = NewKeyword(), NewKeyword()
	for i := range n {
		k.Add(itemID(i), text(i))
	}
	for i := range n {
		if !keep(i) {
			k.Delete(itemID(i))
		} else {
			fresh.Add(itemID(i), text(i))
		}
	}
	if k.dead >= n/2 {
		t.Fatalf("%d dead slots: compaction never ran", k.dead)
	}
	return k, fresh
}

// sameRanking checks that k ranks each query as fresh does, score for score, and
// finds something.
func sameRanking(t *testing.T, k, fresh *Keyword, queries []string, limit int) {
	t.Helper()
	for _, q := range queries {
		got, want := k.Search(q, limit, nil), fresh.Search(q, limit, nil)
		if len(got) == 0 || len(got) != len(want) {
			t.Fatalf("%q: %d results, want %d (and some)", q, len(got), len(want))
		}
		for i := range got {
			if math.Abs(float64(got[i].Score-want[i].Score)) > 1e-5 {
				t.Fatalf("%q: result %d is %s at %v, fresh index %s at %v", q, i, got[i].ID, got[i].Score, want[i].ID, want[i].Score)
			}
		}
	}
}

func TestKeywordConcurrentReadersOneWriter(t *testing.T) {
	k := NewKeyword()
	for i := range 200 {
		k.Add(itemID(i), "note about topic "+words(i))
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, r := range k.Search("topic alpha", 10, nil) {
					if r.Score <= 0 {
						t.Error("non-positive score")
						return
					}
				}
			}
		})
	}
	for i := range 2000 {
		k.Add(itemID(i%300), "note about topic "+words(i))
		if i%3 == 0 {
			k.Delete(itemID((i * 7) % 300))
		}
	}
	close(done)
	wg.Wait()
}

func words(i int) string {
	return []string{"alpha", "beta", "gamma", "delta"}[i%4]
}

// Compaction forgets the terms only deleted documents held and renumbers the rest;
// documents kept, and ones added after, are found by every word as in a fresh index.
func TestKeywordCompactionForgetsTerms(t *testing.T) {
	text := func(i int) string { return fmt.Sprintf("shared only%d pair%d", i, i/2) }
	k, fresh := compactedAndFresh(t, 400, func(i int) bool { return i%4 == 0 }, text)
	if _, ok := k.numbers["only1"]; ok {
		t.Fatal("a term held only by deleted documents is still numbered")
	}
	if len(k.numbers) != len(k.lists) {
		t.Fatalf("%d numbered terms, %d lists", len(k.numbers), len(k.lists))
	}
	k.Add("late", "only1 shared newword")
	fresh.Add("late", "only1 shared newword")
	sameRanking(t, k, fresh, []string{"only8", "pair4", "only1", "newword", "shared", "only8 pair4 shared only400"}, 50)
}
