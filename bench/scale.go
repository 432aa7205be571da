package main

import (
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"time"
)

// A small vocabulary for synthetic memories: enough variety that keyword and vector
// search both have work to do.
var words = strings.Fields(`user prefers likes dislikes lives works studies travels to from with
the a dark light mode coffee tea morning evening running hiking climbing painting music jazz rock
piano guitar dog cat sister brother mother father friend team project deadline meeting Berlin
Lisbon Tokyo Paris Boston remote office weekend summer winter vegetarian vegan allergic peanuts
gluten birthday anniversary moved started finished learning Spanish French German Python Go Rust
garden kitchen book novel poetry movie series football tennis swimming yoga doctor nurse teacher
engineer designer writer manager student bakery restaurant market beach mountain river lake`)

func sentence(rng *rand.Rand) string {
	n := 6 + rng.Intn(10)
	b := make([]string, n)
	for i := range b {
		b[i] = words[rng.Intn(len(words))]
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
	rng := rand.New(rand.NewSource(1))
	start := time.Now()
	for done := 0; done < *n; {
		size := min(1000, *n-done)
		batch := make([]map[string]any, size)
		for i := range batch {
			batch[i] = map[string]any{"text": sentence(rng), "user_id": fmt.Sprintf("u%d", rng.Intn(*users))}
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
		_ = t.call("POST", "/v1/retrieve", map[string]any{"context": sentence(rng), "max_memories": 10}, nil)
	}
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	var firstErr error
	per := *queries / *clients
	start = time.Now()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			local := make([]time.Duration, 0, per)
			for i := 0; i < per; i++ {
				body := map[string]any{"context": sentence(r), "max_memories": 10}
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
	p50, p95, p99, pmax := percentiles(lat)
	fmt.Printf("retrieve, %d clients, %d queries (scoped: %v): %.0f queries/s   p50 %s   p95 %s   p99 %s   max %s\n",
		*clients, len(lat), *scoped, float64(len(lat))/wall.Seconds(), ms(p50), ms(p95), ms(p99), ms(pmax))
	return nil
}
