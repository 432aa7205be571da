package memory

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"memoryd/store"
)

// zipfText makes text whose words follow Zipf's law over a made-up vocabulary headed
// by English function words, like bench/scale.go.
type zipfText struct {
	rng   *rand.Rand
	zipf  *rand.Zipf
	vocab []string
}

func newZipfText(seed int64) *zipfText {
	rng := rand.New(rand.NewSource(seed))
	z := &zipfText{rng: rng, zipf: rand.NewZipf(rng, 1.1, 2, 19_999)}
	z.vocab = strings.Fields("the to and a of i in you it is that my was for on with me at have be this so but we he not are just")
	syl := strings.Fields("ka lo mi ne ru sa ti vo pe da fi go hu ja ke la mo ni po qu re si to va we xi yo za")
	words := rand.New(rand.NewSource(42))
	seen := map[string]bool{}
	for len(z.vocab) < 20_000 {
		var b strings.Builder
		for n := 2 + words.Intn(3); n > 0; n-- {
			b.WriteString(syl[words.Intn(len(syl))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			z.vocab = append(z.vocab, w)
		}
	}
	return z
}

func (z *zipfText) sentence(lo, hi int) string {
	b := make([]string, lo+z.rng.Intn(hi-lo+1))
	for i := range b {
		b[i] = z.vocab[z.zipf.Uint64()]
	}
	return strings.Join(b, " ")
}

// BenchmarkRetrieveZipf: one retrieval in a tenant of 100,000 memories of Zipf text,
// the shape of bench scale's load (run it with -benchtime 20000x or more: loading
// takes longer than a second of searching).
func BenchmarkRetrieveZipf(b *testing.B) {
	e, _, tn := newEngine(b)
	ctx := context.Background()
	z := newZipfText(1)
	for i := 0; i < 100; i++ {
		items := make([]NewMemory, 1000)
		for j := range items {
			items[j] = NewMemory{Text: z.sentence(8, 20), UserID: fmt.Sprintf("u%d", z.rng.Intn(1000))}
		}
		if _, err := e.Create(ctx, tn, items, store.Change{Source: "batch"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Retrieve(ctx, tn, Query{Context: z.sentence(4, 10), Max: 10}); err != nil {
			b.Fatal(err)
		}
	}
}
