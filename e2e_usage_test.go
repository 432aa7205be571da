package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type usageJSON struct {
	Period struct{ Start, End time.Time } `json:"period"`
	Plan   string                         `json:"plan"`
	Usage  map[string]int64               `json:"usage"`
	Cost   map[string]float64             `json:"cost"`
}

type bucketJSON struct {
	Start time.Time `json:"start"`
	Group string    `json:"group"`
	Calls int64     `json:"api_calls"`
	Read  int64     `json:"memories_read"`
	Wrote int64     `json:"memories_written"`
}

// clientCounts is what a client saw of its own usage.
type clientCounts struct{ calls, read, written int64 }

func (c *clientCounts) add(o clientCounts) {
	c.calls += o.calls
	c.read += o.read
	c.written += o.written
}

// mixedClient sends n mixed requests and counts what each did, from the answers.
func mixedClient(t *testing.T, s *server, key string, seed int64, n int) clientCounts {
	rng := rand.New(rand.NewSource(seed))
	var mine []string
	var c clientCounts
	client := &http.Client{Timeout: 30 * time.Second}
	call := func(method, path string, body any) (int, json.RawMessage) {
		var rd *bytes.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			rd = bytes.NewReader(raw)
		} else {
			rd = bytes.NewReader(nil)
		}
		hr, _ := http.NewRequest(method, s.base+path, rd)
		hr.Header.Set("Authorization", "Bearer "+key)
		if body != nil {
			hr.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(hr)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		defer resp.Body.Close()
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&env)
		if resp.StatusCode >= 300 {
			t.Errorf("%s %s: %d", method, path, resp.StatusCode)
		}
		c.calls++
		return resp.StatusCode, env.Data
	}
	for i := 0; i < n; i++ {
		op := rng.Intn(10)
		if len(mine) == 0 {
			op = 0
		}
		switch op {
		case 0, 1:
			_, d := call("POST", "/v1/memories", map[string]any{"text": fmt.Sprintf("fact %d-%d", seed, i), "user_id": fmt.Sprintf("u%d", seed)})
			var m memoryJSON
			_ = json.Unmarshal(d, &m)
			mine = append(mine, m.ID)
			c.written++
		case 2:
			_, d := call("POST", "/v1/batch/memories", map[string]any{"memories": []any{
				map[string]any{"text": "batch a", "user_id": fmt.Sprintf("u%d", seed)}, map[string]any{"text": "batch b"}}})
			var b struct{ Memories []memoryJSON }
			_ = json.Unmarshal(d, &b)
			for _, m := range b.Memories {
				mine = append(mine, m.ID)
			}
			c.written += int64(len(b.Memories))
		case 3, 4:
			call("GET", "/v1/memories/"+mine[rng.Intn(len(mine))], nil)
			c.read++
		case 5:
			_, d := call("GET", fmt.Sprintf("/v1/memories?limit=5&user_id=u%d", seed), nil)
			var l struct{ Memories []memoryJSON }
			_ = json.Unmarshal(d, &l)
			c.read += int64(len(l.Memories))
		case 6:
			call("PUT", "/v1/memories/"+mine[rng.Intn(len(mine))], map[string]any{"text": fmt.Sprintf("changed %d", i)})
			c.written++
		case 7:
			j := rng.Intn(len(mine))
			call("DELETE", "/v1/memories/"+mine[j], nil)
			mine = append(mine[:j], mine[j+1:]...)
			c.written++
		case 8:
			call("GET", "/v1/memories/"+mine[rng.Intn(len(mine))]+"/history", nil)
			c.read++
		case 9:
			call("GET", "/v1/account", nil)
		}
	}
	return c
}

// 50 concurrent clients send 4,000 mixed requests; /v1/usage then equals what they
// counted, exactly, and the history buckets sum to the totals.
func TestUsageExactUnderLoad(t *testing.T) {
	s := startServer(t, "")
	org, key := s.newOrg(t, "loaded", "enterprise")
	// Enterprise limits are per-org overrides: lift them above the test's load.
	s.ok(t, 200, req{method: "PATCH", path: "/v1/admin/orgs/" + org.ID, key: testAdminToken,
		body: map[string]any{"limits": map[string]any{"requests_per_minute": 1_000_000, "concurrent": 100}}}, nil)

	const clients, perClient = 50, 80
	var (
		mu    sync.Mutex
		total clientCounts
		wg    sync.WaitGroup
	)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := mixedClient(t, s, key, int64(i+1), perClient)
			mu.Lock()
			total.add(c)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if total.calls != clients*perClient {
		t.Fatalf("clients sent %d requests", total.calls)
	}

	var u usageJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/usage", key: key}, &u)
	if u.Usage["api_calls"] != total.calls || u.Usage["memories_written"] != total.written || u.Usage["memories_read"] != total.read {
		t.Fatalf("usage %v, clients counted calls %d written %d read %d", u.Usage, total.calls, total.written, total.read)
	}
	stored := int64(s.countMemories(t, key))
	if u.Usage["memories_stored"] != stored {
		t.Fatalf("memories_stored %d, list shows %d", u.Usage["memories_stored"], stored)
	}
	t.Logf("%d calls, %d written, %d read, %d stored", total.calls, total.written, total.read, stored)

	// The usage call and the list calls above count too: 1 + pages.
	var u2 usageJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/usage", key: key}, &u2)
	pages := (stored + 99) / 100
	if stored == 0 {
		pages = 1
	}
	calls := total.calls + 1 + pages
	if u2.Usage["api_calls"] != calls || u2.Usage["memories_read"] != total.read+stored {
		t.Fatalf("second usage %v, want %d calls", u2.Usage, calls)
	}
	calls++ // the second /v1/usage call

	for _, q := range []string{"granularity=hour", "granularity=day", "granularity=day&group_by=endpoint", "granularity=hour&group_by=api_key"} {
		var h struct {
			Buckets []bucketJSON `json:"buckets"`
		}
		s.ok(t, 200, req{method: "GET", path: "/v1/usage/history?" + q, key: key}, &h)
		var sum clientCounts
		for _, b := range h.Buckets {
			sum.add(clientCounts{b.Calls, b.Read, b.Wrote})
		}
		if sum.calls != calls || sum.written != total.written || sum.read != total.read+stored {
			t.Fatalf("%s: buckets sum to %+v, want calls %d written %d read %d", q, sum, calls, total.written, total.read+stored)
		}
		calls++
	}

	// CSV carries the same rows.
	r := s.do(t, req{method: "GET", path: "/v1/usage/history?granularity=day&group_by=endpoint&format=csv", key: key})
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(bytes.NewReader(r.Raw)).ReadAll()
	if err != nil || len(rows) < 2 || rows[0][0] != "start" || rows[0][1] != "group" || rows[0][2] != "api_calls" {
		t.Fatalf("csv rows: %v %v", rows, err)
	}
	var csvCalls int64
	for _, row := range rows[1:] {
		n, _ := strconv.ParseInt(row[2], 10, 64)
		csvCalls += n
	}
	if csvCalls != calls {
		t.Fatalf("csv api_calls sum %d, want %d", csvCalls, calls)
	}
}

// Free: the 11th request in a minute gets 429 with retry_after and headers; the 101st
// memory gets 402 and is not stored. Starter past its API-call quota is still served
// and billed for the overage.
func TestLimitsAndQuotas(t *testing.T) {
	s := startServer(t, "",
		"MEMORYD_PLANS_STARTER_MONTHLY_API_CALLS=5",
		"MEMORYD_PLANS_STARTER_OVERAGE_API_CALLS_PER_1K=1000") // $1 a call past the quota
	_, free := s.newOrg(t, "free-rate", "free")
	for i := 1; i <= 10; i++ {
		r := s.ok(t, 200, req{method: "GET", path: "/v1/account", key: free}, nil)
		if r.Header.Get("X-RateLimit-Limit") != "10" || r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(10-i) || r.Header.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("request %d headers: %v", i, r.Header)
		}
	}
	r := s.do(t, req{method: "GET", path: "/v1/account", key: free})
	if r.Status != 429 || r.Env.Error.Code != "RATE_LIMIT_EXCEEDED" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("11th request: %d %s %v", r.Status, r.Raw, r.Header)
	}
	d := r.Env.Error.Details
	if d["window"] != "minute" || d["limit"] != 10.0 || d["retry_after"] == nil || fmt.Sprint(d["retry_after"]) != r.Header.Get("Retry-After") {
		t.Fatalf("429 details %v, Retry-After %q", d, r.Header.Get("Retry-After"))
	}
	if r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429 remaining = %q", r.Header.Get("X-RateLimit-Remaining"))
	}

	_, free2 := s.newOrg(t, "free-quota", "free")
	batch := make([]map[string]any, 100)
	for i := range batch {
		batch[i] = map[string]any{"text": fmt.Sprintf("memory %d", i)}
	}
	s.ok(t, 201, req{method: "POST", path: "/v1/batch/memories", key: free2, body: map[string]any{"memories": batch}}, nil)
	det := s.fails(t, 402, "QUOTA_EXCEEDED", req{method: "POST", path: "/v1/memories", key: free2, body: map[string]any{"text": "the 101st"}})
	if det["metric"] != "memories_stored" || det["limit"] != 100.0 || det["used"] != 100.0 {
		t.Fatalf("402 details = %v", det)
	}
	var u usageJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/usage", key: free2}, &u)
	if u.Usage["memories_stored"] != 100 || u.Usage["memories_written"] != 100 || u.Usage["api_calls"] != 1 {
		t.Fatalf("free usage after the 402: %v", u.Usage)
	}
	if n := s.countMemories(t, free2); n != 100 {
		t.Fatalf("%d memories stored, want 100", n)
	}

	_, starter := s.newOrg(t, "starter-over", "starter")
	for i := 0; i < 8; i++ {
		s.ok(t, 200, req{method: "GET", path: "/v1/account", key: starter}, nil)
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/usage", key: starter}, &u)
	if u.Usage["api_calls"] != 8 || u.Cost["base_usd"] != 49 || u.Cost["overage_usd"] != 3 || u.Cost["total_usd"] != 52 {
		t.Fatalf("starter usage %v cost %v", u.Usage, u.Cost)
	}
	if u.Cost["projected_total_usd"] < u.Cost["total_usd"] {
		t.Fatalf("projection below the total so far: %v", u.Cost)
	}
	// A test key of the same org is never billed and counts apart.
	test := s.newKey(t, starter, "test", "read")
	s.ok(t, 200, req{method: "GET", path: "/v1/usage", key: test.Key}, &u)
	if u.Usage["api_calls"] != 0 || u.Cost["total_usd"] != 0 || u.Cost["base_usd"] != 0 {
		t.Fatalf("test-mode usage %v cost %v", u.Usage, u.Cost)
	}
}

// A hard cap on API calls (free) answers 402 once the month's calls are used.
func TestAPICallHardCap(t *testing.T) {
	s := startServer(t, "", "MEMORYD_PLANS_FREE_MONTHLY_API_CALLS=3")
	_, key := s.newOrg(t, "capped", "free")
	for i := 0; i < 3; i++ {
		s.ok(t, 200, req{method: "GET", path: "/v1/memories", key: key}, nil)
	}
	d := s.fails(t, 402, "QUOTA_EXCEEDED", req{method: "GET", path: "/v1/memories", key: key})
	if d["metric"] != "api_calls" || d["limit"] != 3.0 || d["used"] != 3.0 {
		t.Fatalf("details = %v", d)
	}
}

// After SIGKILL mid-load and a restart, every write's usage event is there, and the
// read events lost are at most one second's worth.
func TestUsageSurvivesSIGKILL(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	org, key := s.newOrg(t, "crashy", "enterprise")
	s.ok(t, 200, req{method: "PATCH", path: "/v1/admin/orgs/" + org.ID, key: testAdminToken,
		body: map[string]any{"limits": map[string]any{"requests_per_minute": 1_000_000, "concurrent": 100}}}, nil)
	seed := s.createMemory(t, key, map[string]any{"text": "read me"})

	var (
		mu         sync.Mutex
		writesAck  int64
		readTimes  []time.Time
		wg         sync.WaitGroup
		stop       = make(chan struct{})
		client     = &http.Client{Timeout: 5 * time.Second}
		setupCalls = int64(1) // the seed create
	)
	send := func(method, path, body string) bool {
		var hr *http.Request
		if body != "" {
			hr, _ = http.NewRequest(method, s.base+path, strings.NewReader(body))
			hr.Header.Set("Content-Type", "application/json")
		} else {
			hr, _ = http.NewRequest(method, s.base+path, nil)
		}
		hr.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(hr)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode < 300
	}
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if send("POST", "/v1/memories", `{"text":"load"}`) {
					mu.Lock()
					writesAck++
					mu.Unlock()
				}
			}
		}()
		go func() { // reader
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if send("GET", "/v1/memories/"+seed.ID, "") {
					mu.Lock()
					readTimes = append(readTimes, time.Now())
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(2500 * time.Millisecond)
	killedAt := time.Now()
	s.kill()
	close(stop)
	wg.Wait()

	s = startServer(t, data)
	var u usageJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/usage", key: key}, &u)
	var h struct {
		Buckets []bucketJSON `json:"buckets"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/usage/history?group_by=endpoint", key: key}, &h)
	var writeCalls, readCalls int64
	for _, b := range h.Buckets {
		switch b.Group {
		case "POST /v1/memories":
			writeCalls += b.Calls
		case "GET /v1/memories/{id}":
			readCalls += b.Calls
		}
	}
	// Writes commit their event with the memory: every acknowledged one is counted (a
	// write that committed just before the kill but was never answered counts too).
	if writeCalls < writesAck+setupCalls || writeCalls > writesAck+setupCalls+4 {
		t.Fatalf("write events %d, acknowledged writes %d", writeCalls, writesAck+setupCalls)
	}
	if u.Usage["memories_written"] != writeCalls {
		t.Fatalf("memories_written %d, write events %d", u.Usage["memories_written"], writeCalls)
	}
	lost := int64(len(readTimes)) - readCalls
	var lastSecond int64
	for _, at := range readTimes {
		if at.After(killedAt.Add(-1250 * time.Millisecond)) { // the flush interval plus a commit's time
			lastSecond++
		}
	}
	t.Logf("writes acked %d, read events %d of %d acknowledged; lost %d, bound %d", writesAck, readCalls, len(readTimes), lost, lastSecond)
	if lost < 0 || lost > lastSecond {
		t.Fatalf("lost %d read events; at most the last second's %d may be lost", lost, lastSecond)
	}
	if len(readTimes) < 100 {
		t.Fatalf("only %d reads acknowledged: the load did not run", len(readTimes))
	}
}
