package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"memoryd/config"
	"memoryd/memory"
	"memoryd/store"
)

// BenchmarkAuthLimitsMeter measures what auth, rate limits and metering cost: the
// throughput of an authenticated GET /v1/memories/{id} as a ratio of GET /healthz,
// both over loopback HTTP in the same run, with 4 concurrent clients.
func BenchmarkAuthLimitsMeter(b *testing.B) {
	ts, key := newTestServerTB(b, func(s *store.Store) memory.Store { return s })
	r, _ := http.NewRequest("POST", ts.URL+"/v1/memories", strings.NewReader(`{"text":"benchmark memory","user_id":"u1"}`))
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := string(body[strings.Index(string(body), "mem_") : strings.Index(string(body), "mem_")+30])

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	run := func(path string, auth bool, n int) time.Duration {
		var wg sync.WaitGroup
		start := time.Now()
		per := n / 4
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					req, _ := http.NewRequest("GET", ts.URL+path, nil)
					if auth {
						req.Header.Set("Authorization", "Bearer "+key)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("%s: %d", path, resp.StatusCode)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	run("/healthz", false, 400) // warm the connections
	b.ResetTimer()
	var health, get time.Duration
	for i := 0; i < b.N; i++ {
		health += run("/healthz", false, 400)
		get += run("/v1/memories/"+id, true, 400)
	}
	b.StopTimer()
	n := float64(b.N * 400)
	b.ReportMetric(n/health.Seconds(), "healthz/s")
	b.ReportMetric(n/get.Seconds(), "get/s")
	b.ReportMetric(health.Seconds()/get.Seconds(), "ratio")
}

// BenchmarkRetrieveHandler drives POST /v1/retrieve through the whole handler chain
// (request id, auth, limits, metering, audit, the engine) on a tenant of 20,000
// memories of Zipf-distributed made-up words, without the network. Each iteration
// asks a query not asked before in the cycle, so the response cache does not answer.
func BenchmarkRetrieveHandler(b *testing.B) {
	srv, key, st := newAPIServer(b, config.Default(), func(s *store.Store) memory.Store { return s }, memory.Options{})
	k, err := st.KeyByHash(st.HashKey(key))
	if err != nil {
		b.Fatal(err)
	}
	tn := memory.Tenant{OrgID: k.OrgID, Mode: k.Mode}
	rng := rand.New(rand.NewSource(7))
	zipf := rand.NewZipf(rng, 1.1, 2, 9_999)
	word := func() string {
		n := zipf.Uint64()
		return fmt.Sprintf("w%x%c", n, 'a'+byte(n%26))
	}
	text := func(n int) string {
		words := make([]string, n)
		for i := range words {
			words[i] = word()
		}
		return strings.Join(words, " ")
	}
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		items := make([]memory.NewMemory, 1000)
		for j := range items {
			items[j] = memory.NewMemory{Text: text(8 + rng.Intn(12)), UserID: fmt.Sprintf("u%d", rng.Intn(500))}
		}
		if _, err := srv.engine.Create(ctx, tn, items, store.Change{Source: "batch"}); err != nil {
			b.Fatal(err)
		}
	}
	bodies := make([][]byte, 4096)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"context":%q,"max_memories":10}`, text(4+rng.Intn(6)))
	}
	h := srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest("POST", "/v1/retrieve", bytes.NewReader(bodies[i%len(bodies)]))
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
