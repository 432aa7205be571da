package index_test

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"memoryd/index"
	"memoryd/llm"
)

// BenchmarkSearchLocalText measures the graph on the vectors memoryd actually
// searches in the scale harness: 100,000 texts of bench/scale.go's Zipf text,
// embedded by the local embedder, queried by 4–10 word texts embedded as the
// engine embeds queries, k = 50 as a retrieval asks. Clustered Gaussian vectors
// (BenchmarkSearch) reach recall 1.0; these are harder, so this is the one to
// judge a change to the walk (its codes, ef, degree) by. It reports, for each ef:
// recall@50 and recall@10 against the exact scan, and the summed similarity of
// the ten best found over that of the true ten best.
func BenchmarkSearchLocalText(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	zipf := rand.NewZipf(rng, 1.1, 2, 19_999)
	vocab := zipfVocabulary()
	sentence := func(lo, hi int) string {
		words := make([]string, lo+rng.Intn(hi-lo+1))
		for i := range words {
			words[i] = vocab[zipf.Uint64()]
		}
		return strings.Join(words, " ")
	}
	embedder := llm.NewLocal(384)
	stats := embedder.NewTermStats()
	exact := index.NewExact(384)
	var ids []string
	var vecs [][]float32
	for i := range 100_000 {
		text := sentence(8, 20)
		stats.Add(text)
		v := make([]float32, 384)
		embedder.EmbedOne(text, v)
		if isZero(v) { // function words only: the engine indexes no vector either
			continue
		}
		id := fmt.Sprint(i)
		ids, vecs = append(ids, id), append(vecs, v)
		exact.Add(id, v)
	}
	graph := index.NewHNSW(384, index.DefaultHNSWConfig())
	if err := graph.AddBatch(ids, vecs, 2); err != nil {
		b.Fatal(err)
	}
	var queries [][]float32
	var truth [][]index.Result
	for len(queries) < 300 {
		q, err := embedder.EmbedQuery(context.Background(), sentence(4, 10), stats)
		if err != nil {
			b.Fatal(err)
		}
		if !isZero(q) {
			queries = append(queries, q)
			truth = append(truth, exact.Search(q, 50, nil))
		}
	}
	for _, ef := range []int{50, 64, 96, 128} {
		b.Run(fmt.Sprintf("100k/k=50/ef=%d", ef), func(b *testing.B) {
			i := 0
			for b.Loop() {
				graph.SearchEf(queries[i%len(queries)], 50, ef, nil)
				i++
			}
			var found50, found10 int
			var similarity float64
			for i, q := range queries {
				want50, want10 := map[string]bool{}, map[string]bool{}
				var best10 float64
				for j, r := range truth[i] {
					want50[r.ID] = true
					if j < 10 {
						want10[r.ID] = true
						best10 += float64(r.Score)
					}
				}
				var got10 float64
				for j, r := range graph.SearchEf(q, 50, ef, nil) {
					if want50[r.ID] {
						found50++
					}
					if j < 10 {
						got10 += float64(r.Score)
						if want10[r.ID] {
							found10++
						}
					}
				}
				similarity += got10 / best10
			}
			b.ReportMetric(float64(found50)/float64(50*len(queries)), "recall@50")
			b.ReportMetric(float64(found10)/float64(10*len(queries)), "recall@10")
			b.ReportMetric(similarity/float64(len(queries)), "top10-similarity")
		})
	}
}

// zipfVocabulary is bench/scale.go's: English function words first (the
// tokenizer drops them), then made-up words of two to four syllables.
func zipfVocabulary() []string {
	vocab := strings.Fields("the to and a of i in you it is that my was for on with me at have be this so but we he not are just")
	syllables := strings.Fields("ka lo mi ne ru sa ti vo pe da fi go hu ja ke la mo ni po qu re si to va we xi yo za")
	words := rand.New(rand.NewSource(42))
	seen := map[string]bool{}
	for len(vocab) < 20_000 {
		var w strings.Builder
		for n := 2 + words.Intn(3); n > 0; n-- {
			w.WriteString(syllables[words.Intn(len(syllables))])
		}
		if !seen[w.String()] {
			seen[w.String()] = true
			vocab = append(vocab, w.String())
		}
	}
	return vocab
}

func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
