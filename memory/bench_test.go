package memory

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"memoryd/store"
)

var benchWords = strings.Fields(`user prefers likes dislikes lives works studies travels coffee tea
morning evening running hiking climbing painting music jazz piano guitar dog cat sister brother
mother father friend project deadline meeting Berlin Lisbon Tokyo remote office weekend summer
winter vegetarian allergic peanuts birthday moved started learning Spanish Python garden book`)

func benchText(rng *rand.Rand) string {
	b := make([]string, 8+rng.Intn(8))
	for i := range b {
		b[i] = benchWords[rng.Intn(len(benchWords))]
	}
	return strings.Join(b, " ")
}

// BenchmarkBatchCreate measures durable batch inserts of 1,000 memories into one
// tenant that already holds 20,000 (so the vector index is an HNSW graph).
func BenchmarkBatchCreate(b *testing.B) {
	e, _, tn := newEngine(b)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(1))
	batch := func() []NewMemory {
		items := make([]NewMemory, 1000)
		for i := range items {
			items[i] = NewMemory{Text: benchText(rng), UserID: fmt.Sprintf("u%d", rng.Intn(100))}
		}
		return items
	}
	for i := 0; i < 20; i++ {
		if _, err := e.Create(ctx, tn, batch(), store.Change{Source: "batch"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Create(ctx, tn, batch(), store.Change{Source: "batch"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "memories/s")
}

// BenchmarkRetrieve measures one retrieval in a tenant of 30,000 memories (an HNSW
// graph and a keyword index), without HTTP: over the whole tenant, and scoped to one
// user_id of 100 (1% of the memories).
func BenchmarkRetrieve(b *testing.B) {
	e, _, tn := newEngine(b)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 30; i++ {
		items := make([]NewMemory, 1000)
		for j := range items {
			items[j] = NewMemory{Text: benchText(rng), UserID: fmt.Sprintf("u%d", rng.Intn(100))}
		}
		if _, err := e.Create(ctx, tn, items, store.Change{Source: "batch"}); err != nil {
			b.Fatal(err)
		}
	}
	queries := make([]string, 64)
	for i := range queries {
		queries[i] = benchText(rng)
	}
	for _, scoped := range []bool{false, true} {
		b.Run(fmt.Sprintf("scoped=%v", scoped), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				q := Query{Context: queries[i%len(queries)] + fmt.Sprint(i), Max: 10}
				if scoped {
					q.Scope.UserID = fmt.Sprintf("u%d", i%100)
				}
				if _, err := e.Retrieve(ctx, tn, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
