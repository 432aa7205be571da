package index

import (
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"testing"
)

// bruteBM25 scores every live document against query by the Okapi formula, from
// the texts' tokens alone: the reference the pruned search must equal.
func bruteBM25(tokens map[string][]string, query string) map[string]float64 {
	total := 0
	df := map[string]int{}
	for id := range tokens {
		total += len(tokens[id])
		seen := map[string]bool{}
		for _, t := range tokens[id] {
			if !seen[t] {
				seen[t] = true
				df[t]++
			}
		}
	}
	avg := float64(total) / float64(len(tokens))
	seen := map[string]bool{}
	scores := map[string]float64{}
	for _, q := range Tokenize(query) {
		if seen[q] || df[q] == 0 {
			continue
		}
		seen[q] = true
		idf := math.Log(1 + (float64(len(tokens))-float64(df[q])+0.5)/(float64(df[q])+0.5))
		for id, toks := range tokens {
			tf := 0.0
			for _, t := range toks {
				if t == q {
					tf++
				}
			}
			if tf > 0 {
				scores[id] += idf * tf * 2.2 / (tf + 1.2*(0.25+0.75*float64(len(toks))/avg))
			}
		}
	}
	return scores
}

// The search returns exactly the best documents by full BM25, recomputed from the
// texts, over corpora with common and rare words, repeated words, deletions and
// updates (which leave dead postings until compaction), filters and candidate lists,
// for small and large limits.
func TestKeywordSearchEqualsFullBM25(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	zipf := rand.NewZipf(rng, 1.2, 2, 400)
	word := func() string { return fmt.Sprintf("w%d", zipf.Uint64()) }
	sentence := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = word()
		}
		return strings.Join(w, " ")
	}
	checked, rounds := 0, 3
	if testing.Short() {
		rounds = 2
	}
	for round := 0; round < rounds; round++ {
		k := NewKeyword()
		texts := map[string]string{}
		for i := 0; i < 3000; i++ {
			id := fmt.Sprintf("d%05d", i)
			texts[id] = sentence(3 + rng.Intn(30))
			if err := k.Add(id, texts[id]); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 400; i++ { // deletions and rewrites
			id := fmt.Sprintf("d%05d", rng.Intn(3000))
			if rng.Intn(2) == 0 {
				k.Delete(id)
				delete(texts, id)
			} else {
				texts[id] = sentence(1 + rng.Intn(40))
				_ = k.Add(id, texts[id])
			}
		}
		tokens := map[string][]string{}
		for id, text := range texts {
			tokens[id] = Tokenize(text)
		}
		for q := 0; q < 60; q++ {
			query := sentence(1 + rng.Intn(10))
			limit := []int{1, 5, 10, 50, 500}[rng.Intn(5)]
			var filter func(string) bool
			var among []string
			admit := func(string) bool { return true }
			switch rng.Intn(3) {
			case 1:
				filter = func(id string) bool { return id[len(id)-1]%3 != 0 }
				admit = filter
			case 2:
				in := map[string]bool{}
				for i := 0; i < 300; i++ {
					id := fmt.Sprintf("d%05d", rng.Intn(3000))
					among = append(among, id)
					in[id] = true
				}
				admit = func(id string) bool { return in[id] }
			}
			var got []Result
			if among != nil {
				got = k.SearchAmong(query, limit, among)
			} else {
				got = k.Search(query, limit, filter)
			}
			type ds struct {
				id    string
				score float64
			}
			var want []ds
			full := bruteBM25(tokens, query)
			for id, s := range full {
				if admit(id) {
					want = append(want, ds{id, s})
				}
			}
			sort.Slice(want, func(i, j int) bool { return want[i].score > want[j].score })
			if len(got) != min(limit, len(want)) {
				t.Fatalf("round %d %q limit %d: %d results, want %d", round, query, limit, len(got), min(limit, len(want)))
			}
			for i, r := range got {
				// Ties may come in another order; the scores at each rank may not differ.
				if math.Abs(float64(r.Score)-want[i].score) > 1e-4*want[i].score {
					t.Fatalf("round %d %q limit %d: rank %d is %s at %v, want %s at %v", round, query, limit, i, r.ID, r.Score, want[i].id, want[i].score)
				}
				if s := full[r.ID]; math.Abs(float64(r.Score)-s) > 1e-4*s || !admit(r.ID) {
					t.Fatalf("round %d %q: %s scored %v, its BM25 is %v (admitted %v)", round, query, r.ID, r.Score, s, admit(r.ID))
				}
			}
			checked++
		}
	}
	t.Logf("%d searches equal to full BM25", checked)
}

// A board hands each score back once and is all zeros after a search, including
// one that stopped before taking its scores; it grows to the slots asked for.
func TestScoreBoardStartsEmpty(t *testing.T) {
	var b scoreBoard
	b.reset(10)
	b.add(3, 2.5)
	b.add(3, 1)
	b.add(7, 4)
	if len(b.touched) != 2 || b.take(3) != 3.5 || b.take(3) != 0 {
		t.Fatalf("touched %v; a score is taken once", b.touched)
	}
	b.reset(10) // slot 7 was never taken
	if b.scores[7] != 0 || len(b.touched) != 0 {
		t.Fatalf("left over: slot 7 = %v, touched %v", b.scores[7], b.touched)
	}
	b.add(7, 1)
	if b.take(7) != 1 || len(b.touched) != 1 {
		t.Fatalf("after a reset a fresh add reads wrong, touched %v", b.touched)
	}
	if b.reset(1000); len(b.scores) < 1000 {
		t.Fatalf("grown to %d", len(b.scores))
	}
	for slot, s := range b.scores {
		if s != 0 {
			t.Fatalf("slot %d of the grown board holds %v", slot, s)
		}
	}
}
