package main

// soak: a steady mixed load (creates, reads, retrieves, usage) for a fixed time, with
// latency per call and the server's resident memory sampled over time. Once the org
// holds -memories memories, creates turn into updates: the data stops growing, and
// so must the server's memory.
//
//	go run ./bench soak -duration 5m -rate 200 -memories 20000

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type soakOp struct {
	name   string
	weight int
}

// The mix: what a memory-backed assistant does per conversation turn, roughly.
var soakMix = []soakOp{{"create", 25}, {"get", 20}, {"retrieve", 40}, {"list", 5}, {"usage", 10}}

type soakStats struct {
	mu     sync.Mutex
	lat    map[string][]time.Duration
	errors map[string]int
	sample map[string]string // one error answer per call, for the report
}

func (s *soakStats) record(op string, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lat[op] = append(s.lat[op], d)
	if err != nil {
		s.errors[op]++
		if _, ok := s.sample[op]; !ok {
			s.sample[op] = err.Error()
		}
	}
}

func runSoak(args []string) error {
	fs, url, key, bin := flags("soak")
	duration := fs.Duration("duration", 5*time.Minute, "how long to run")
	rate := fs.Int("rate", 200, "requests per second, all clients together")
	clients := fs.Int("clients", 16, "concurrent clients")
	maxMems := fs.Int("memories", 20000, "memories after which creates become updates")
	every := fs.Duration("sample", 15*time.Second, "resident memory sampling interval")
	_ = fs.Parse(args)
	t, err := connect(*url, *key, *bin)
	if err != nil {
		return err
	}
	defer t.stop()

	words := strings.Fields("coffee tea hiking sailing chess piano guitar painting running cycling swimming tennis " +
		"python golang rust kubernetes postgres berlin paris tokyo lisbon dentist doctor sister brother daughter " +
		"birthday anniversary vegetarian vegan allergy peanuts gluten dog cat parrot garden kitchen office meeting")
	sentence := func(r *rand.Rand) string {
		n := 6 + r.Intn(8)
		out := make([]string, n)
		for i := range out {
			out[i] = words[r.Intn(len(words))]
		}
		return "the user mentioned " + strings.Join(out, " ")
	}
	total := 0
	for _, o := range soakMix {
		total += o.weight
	}
	pick := func(r *rand.Rand) string {
		n := r.Intn(total)
		for _, o := range soakMix {
			if n < o.weight {
				return o.name
			}
			n -= o.weight
		}
		return soakMix[0].name
	}

	var (
		idsMu sync.Mutex
		ids   []string
	)
	randomID := func(r *rand.Rand) string {
		idsMu.Lock()
		defer idsMu.Unlock()
		if len(ids) == 0 {
			return ""
		}
		return ids[r.Intn(len(ids))]
	}
	st := &soakStats{lat: map[string][]time.Duration{}, errors: map[string]int{}, sample: map[string]string{}}
	var sent atomic.Int64

	do := func(r *rand.Rand) {
		op := pick(r)
		user := fmt.Sprintf("u_%d", r.Intn(50))
		var err error
		start := time.Now()
		switch op {
		case "create":
			idsMu.Lock()
			full := len(ids) >= *maxMems
			idsMu.Unlock()
			if full {
				op = "update"
				start = time.Now()
				err = t.call("PUT", "/v1/memories/"+randomID(r), map[string]any{"text": sentence(r)}, nil)
				break
			}
			var m struct {
				ID string `json:"id"`
			}
			err = t.call("POST", "/v1/memories", map[string]any{"text": sentence(r), "user_id": user}, &m)
			if err == nil {
				idsMu.Lock()
				ids = append(ids, m.ID)
				idsMu.Unlock()
			}
		case "get":
			id := randomID(r)
			if id == "" {
				return
			}
			err = t.call("GET", "/v1/memories/"+id, nil, nil)
		case "retrieve":
			body := map[string]any{"context": sentence(r), "max_memories": 10}
			if r.Intn(2) == 0 {
				body["user_id"] = user
			}
			err = t.call("POST", "/v1/retrieve", body, nil)
		case "list":
			err = t.call("GET", "/v1/memories?limit=20&user_id="+user, nil, nil)
		case "usage":
			err = t.call("GET", "/v1/usage", nil, nil)
		}
		st.record(op, time.Since(start), err)
	}

	// A fixed schedule of requests shared by the clients: a steady rate, not as fast
	// as possible, so latency is measured under the load a server actually runs at.
	ticks := make(chan struct{}, *clients)
	end := time.Now().Add(*duration)
	go func() {
		defer close(ticks)
		interval := time.Second / time.Duration(*rate)
		next := time.Now()
		for next.Before(end) {
			time.Sleep(time.Until(next))
			select {
			case ticks <- struct{}{}:
			default: // every client busy: the request is dropped and counted late
			}
			sent.Add(1)
			next = next.Add(interval)
		}
	}()
	var wg sync.WaitGroup
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for range ticks {
				do(r)
			}
		}(int64(c + 1))
	}

	type rssSample struct {
		at        time.Duration
		rss, heap float64
		memories  int
	}
	var samples []rssSample
	begin := time.Now()
	sampleNow := func() {
		rss, heap := t.processMemory()
		idsMu.Lock()
		n := len(ids)
		idsMu.Unlock()
		samples = append(samples, rssSample{at: time.Since(begin).Round(time.Second), rss: rss, heap: heap, memories: n})
	}
	sampleNow()
	tick := time.NewTicker(*every)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		select {
		case <-tick.C:
			sampleNow()
		case <-done:
			break loop
		}
	}
	tick.Stop()
	sampleNow()

	fmt.Printf("soak: %s at %d req/s scheduled, %d clients, creates until %d memories then updates\n\n",
		*duration, *rate, *clients, *maxMems)
	fmt.Println("| call | requests | errors | p50 | p95 | p99 | max |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	var all, errs int
	for _, op := range []string{"create", "update", "get", "retrieve", "list", "usage"} {
		d := st.lat[op]
		if len(d) == 0 {
			continue
		}
		p50, p95, p99, pmax := percentiles(d)
		all += len(d)
		errs += st.errors[op]
		fmt.Printf("| %s | %d | %d | %s | %s | %s | %s |\n", op, len(d), st.errors[op], ms(p50), ms(p95), ms(p99), ms(pmax))
	}
	fmt.Printf("\n%d requests (%d scheduled), %d errors: error rate %.4f%%\n", all, sent.Load(), errs, 100*float64(errs)/float64(max(all, 1)))
	for op, msg := range st.sample {
		fmt.Printf("first %s error: %.300s\n", op, msg)
	}
	fmt.Println("\n| time | memories | resident (RSS) | Go heap in use |")
	fmt.Println("|---:|---:|---:|---:|")
	for _, s := range samples {
		fmt.Printf("| %s | %d | %.1f MiB | %.1f MiB |\n", s.at, s.memories, s.rss/(1<<20), s.heap/(1<<20))
	}
	return nil
}

// processMemory reads the server's resident memory and Go heap from /metrics.
func (t *target) processMemory() (rss, heap float64) {
	resp, err := t.client.Get(t.base + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "process_resident_memory_bytes":
			rss = v
		case "go_memstats_heap_inuse_bytes":
			heap = v
		}
	}
	return rss, heap
}
