package api

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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
