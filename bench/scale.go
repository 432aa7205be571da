package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	neturl "net/url"
	"runtime"
	"strings"
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
	// Every client's requests are built before the clock starts (the same texts, from
	// the same seeds, as a generator inside the loop would give), so that the timed
	// loop only writes bytes and reads the response: the load generator costs about
	// what wrk would, and leaves the shared cores to the server.
	u, err := neturl.Parse(t.base)
	if err != nil {
		return err
	}
	per := *queries / *clients
	reqs := make([][][]byte, *clients)
	for c := range reqs {
		g := newTextGen(int64(c+100), 20_000)
		r := g.rng
		reqs[c] = make([][]byte, per)
		for i := range reqs[c] {
			body := map[string]any{"context": g.sentence(4, 10), "max_memories": 10}
			if *scoped {
				body["user_id"] = fmt.Sprintf("u%d", r.Intn(*users))
			}
			raw, err := json.Marshal(body)
			if err != nil {
				return err
			}
			reqs[c][i] = buildRequest(u.Host, u.Path+"/v1/retrieve", t.key, raw)
		}
	}
	before, scraped := t.scrapeMetrics()
	cpu0, cpuOK := cpuSeconds(before)
	self0 := selfCPU()
	found := make([]int, *clients) // memories in each client's checked responses
	lat, wall, err := closedLoop(t.base, reqs, func(c, i int, body []byte) error {
		// The first responses are decoded and checked; the rest only by status.
		// A query of function words only finds nothing, so one empty answer
		// is no error, but all of them would be.
		if i >= checked {
			return nil
		}
		n, err := checkRetrieve(body)
		found[c] += n
		if err == nil && found[c] == 0 && i == min(checked, len(reqs[c]))-1 {
			err = fmt.Errorf("the first %d responses have no memories", i+1)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("POST /v1/retrieve %w", err)
	}
	self1 := selfCPU()
	after, _ := t.scrapeMetrics()
	cpu1, _ := cpuSeconds(after)
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
	// The server's own view of the same requests, from its latency histogram: the
	// time from its handler's start (request headers read) to the handler's return.
	if scraped && after != nil {
		h0, h1 := routeHistogram(before, retrieveRoute), routeHistogram(after, retrieveRoute)
		if total := h1["+Inf"] - h0["+Inf"]; total > 0 {
			share := func(le string) float64 { return 100 * (h1[le] - h0[le]) / total }
			fmt.Printf("server-side (handler start to return, histogram): %.1f%% ≤ 2.5 ms, %.1f%% ≤ 5 ms, %.1f%% ≤ 10 ms\n",
				share("0.0025"), share("0.005"), share("0.01"))
		}
	}
	return nil
}

// retrieveRoute is the route label of /v1/retrieve in the server's metrics (the
// mux pattern).
const retrieveRoute = "POST /v1/retrieve"

// routeHistogram returns the cumulative bucket counts, by upper bound ("0.005",
// "+Inf"), of memoryd_http_request_duration_seconds for one route in a /metrics text.
func routeHistogram(metrics []byte, route string) map[string]float64 {
	out := map[string]float64{}
	prefix := []byte("memoryd_http_request_duration_seconds_bucket{")
	want := []byte(`route="` + route + `"`)
	for line := range bytes.Lines(metrics) {
		labels, ok := bytes.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		end := bytes.LastIndexByte(labels, '}')
		if end < 0 || !bytes.Contains(labels[:end], want) {
			continue
		}
		_, le, ok := bytes.Cut(labels[:end], []byte(`le="`))
		if !ok {
			continue
		}
		le, _, _ = bytes.Cut(le, []byte(`"`))
		var v float64
		if _, err := fmt.Sscan(string(bytes.TrimSpace(labels[end+1:])), &v); err == nil {
			out[string(le)] = v
		}
	}
	return out
}

// checked is how many responses of each client are decoded and checked.
const checked = 20

// checkRetrieve requires a successful envelope with a data.memories array, and
// returns its length.
func checkRetrieve(body []byte) (int, error) {
	var env struct {
		Success *bool `json:"success"`
		Data    struct {
			Memories *[]json.RawMessage `json:"memories"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return 0, fmt.Errorf("response is not JSON (%v): %s", err, body)
	}
	if env.Success == nil || !*env.Success {
		return 0, fmt.Errorf("response without success: true: %s", body)
	}
	if env.Data.Memories == nil {
		return 0, errors.New("response without a data.memories array: " + string(body))
	}
	return len(*env.Data.Memories), nil
}
