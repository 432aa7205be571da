package main

import (
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Synthetic text follows Zipf's law over a vocabulary of made-up words, as natural
// language does: a few words are everywhere, most are rare. (A tiny vocabulary would
// make every word common, which no real corpus does.)
var syllables = strings.Fields("ka lo mi ne ru sa ti vo pe da fi go hu ja ke la mo ni po qu re si to va we xi yo za")

type textGen struct {
	rng   *rand.Rand
	zipf  *rand.Zipf
	vocab []string
}

func newTextGen(seed int64, vocab int) *textGen {
	rng := rand.New(rand.NewSource(seed))
	g := &textGen{rng: rng, zipf: rand.NewZipf(rng, 1.1, 2, uint64(vocab-1))}
	words := rand.New(rand.NewSource(42)) // the same vocabulary for every generator
	seen := map[string]bool{}
	// The most frequent words of real text are function words, which tokenizers drop;
	// the head of the distribution is those, as in English.
	for _, w := range strings.Fields("the to and a of i in you it is that my was for on with me at have be this so but we he not are just") {
		seen[w] = true
		g.vocab = append(g.vocab, w)
	}
	for len(g.vocab) < vocab {
		var b strings.Builder
		for n := 2 + words.Intn(3); n > 0; n-- {
			b.WriteString(syllables[words.Intn(len(syllables))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			g.vocab = append(g.vocab, w)
		}
	}
	return g
}

func (g *textGen) sentence(minWords, maxWords int) string {
	n := minWords + g.rng.Intn(maxWords-minWords+1)
	b := make([]string, n)
	for i := range b {
		b[i] = g.vocab[g.zipf.Uint64()]
	}
	return strings.Join(b, " ")
}

// runScale loads N synthetic memories into one tenant, then measures /v1/retrieve
// latency with concurrent clients.
func runScale(args []string) error {
	fs, url, key, bin := flags("scale")
	n := fs.Int("memories", 100_000, "memories to load")
	users := fs.Int("users", 1000, "distinct user_id values")
	clients := fs.Int("clients", 8, "concurrent clients")
	queries := fs.Int("queries", 4000, "retrievals in all")
	scoped := fs.Bool("scoped", false, "scope each query to one user_id")
	_ = fs.Parse(args)
	t, err := connect(*url, *key, *bin)
	if err != nil {
		return err
	}
	defer t.stop()
	gen := newTextGen(1, 20_000)
	rng := gen.rng
	start := time.Now()
	for done := 0; done < *n; {
		size := min(1000, *n-done)
		batch := make([]map[string]any, size)
		for i := range batch {
			batch[i] = map[string]any{"text": gen.sentence(8, 20), "user_id": fmt.Sprintf("u%d", rng.Intn(*users))}
		}
		if err := t.call("POST", "/v1/batch/memories", map[string]any{"memories": batch}, nil); err != nil {
			return err
		}
		done += size
	}
	load := time.Since(start)
	fmt.Printf("scale: %d memories in one tenant loaded in %s (%.0f memories/s, batches of 1000, durable)\n",
		*n, load.Round(time.Millisecond), float64(*n)/load.Seconds())

	// Warm up, then measure.
	for i := 0; i < 50; i++ {
		_ = t.call("POST", "/v1/retrieve", map[string]any{"context": gen.sentence(4, 10), "max_memories": 10}, nil)
	}
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	var firstErr error
	per := *queries / *clients
	cpu0, cpuOK := t.serverCPU()
	self0 := selfCPU()
	start = time.Now()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			g := newTextGen(seed, 20_000)
			r := g.rng
			local := make([]time.Duration, 0, per)
			for i := 0; i < per; i++ {
				body := map[string]any{"context": g.sentence(4, 10), "max_memories": 10}
				if *scoped {
					body["user_id"] = fmt.Sprintf("u%d", r.Intn(*users))
				}
				t0 := time.Now()
				if err := t.call("POST", "/v1/retrieve", body, nil); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(int64(c + 100))
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	wall := time.Since(start)
	cpu1, _ := t.serverCPU()
	self1 := selfCPU()
	p50, p95, p99, pmax := percentiles(lat)
	fmt.Printf("retrieve, %d clients, %d queries (scoped: %v): %.0f queries/s   p50 %s   p95 %s   p99 %s   max %s\n",
		*clients, len(lat), *scoped, float64(len(lat))/wall.Seconds(), ms(p50), ms(p95), ms(p99), ms(pmax))
	// Where the CPU went: on a small machine the load generator shares the cores,
	// and with closed-loop clients latency is queueing behind that CPU time.
	if cpuOK && self1 > 0 {
		n := float64(len(lat))
		fmt.Printf("CPU per query: server %.3f ms, load generator %.3f ms (%d cores)\n",
			(cpu1-cpu0)*1000/n, (self1-self0).Seconds()*1000/n, runtime.NumCPU())
	}
	return nil
}
