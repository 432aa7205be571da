package llm

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// countingEmbedder records every text it is asked to embed.
type countingEmbedder struct {
	delay time.Duration
	fail  error

	mu    sync.Mutex
	calls int
	seen  map[string]int
}

func (c *countingEmbedder) Dim() int      { return 4 }
func (c *countingEmbedder) Name() string  { return "counting" }
func (c *countingEmbedder) Model() string { return "counting-v1" }

func (c *countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	time.Sleep(c.delay)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	if c.fail != nil {
		return nil, c.fail
	}
	vecs := make([][]float32, len(texts))
	for i, text := range texts {
		c.seen[text]++
		vecs[i] = []float32{float32(len(text)), 1, 0, 0}
		normalize(vecs[i])
	}
	return vecs, nil
}

func (c *countingEmbedder) timesSeen(text string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[text]
}

func TestCachedEmbedsIdenticalTextsOnce(t *testing.T) {
	inner := &countingEmbedder{}
	c := NewCached(inner, 100)
	ctx := context.Background()
	first, err := c.Embed(ctx, []string{"alpha", "beta", "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Embed(ctx, []string{"beta", "gamma", "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"alpha", "beta", "gamma"} {
		if n := inner.timesSeen(text); n != 1 {
			t.Errorf("%q embedded %d times, want once", text, n)
		}
	}
	if inner.calls != 2 {
		t.Errorf("inner called %d times, want 2", inner.calls)
	}
	if first[0][0] != first[2][0] || first[0][0] != second[2][0] || first[1][0] != second[0][0] {
		t.Error("identical texts got different vectors")
	}
	if got := c.Stats(); got != (CacheStats{Hits: 3, Misses: 3, Entries: 3}) {
		t.Errorf("stats = %+v, want 3 hits, 3 misses, 3 entries", got)
	}

	// The caller owns what it got: changing it must not reach the cache.
	second[2][0] = 42
	third, _ := c.Embed(ctx, []string{"alpha"})
	if third[0][0] == 42 {
		t.Error("a caller's change reached the cached vector")
	}
}

func TestCachedEvictsLeastRecentlyUsed(t *testing.T) {
	inner := &countingEmbedder{}
	c := NewCached(inner, 2)
	ctx := context.Background()
	for _, text := range []string{"a", "b", "a", "c", "a", "b"} {
		if _, err := c.Embed(ctx, []string{text}); err != nil {
			t.Fatal(err)
		}
	}
	// "b" was evicted by "c" (a was used more recently), so it was embedded
	// twice; "a" stayed.
	if inner.timesSeen("a") != 1 || inner.timesSeen("b") != 2 || inner.timesSeen("c") != 1 {
		t.Errorf("embedded a %d, b %d, c %d times; want 1, 2, 1",
			inner.timesSeen("a"), inner.timesSeen("b"), inner.timesSeen("c"))
	}
	if got := c.Stats().Entries; got != 2 {
		t.Errorf("cache holds %d entries, want 2", got)
	}
}

func TestCachedMergesConcurrentCalls(t *testing.T) {
	inner := &countingEmbedder{delay: 20 * time.Millisecond}
	c := NewCached(inner, 100)
	texts := make([]string, 20)
	for i := range texts {
		texts[i] = "text " + strconv.Itoa(i)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			vecs, err := c.Embed(context.Background(), texts)
			if err != nil || len(vecs) != len(texts) {
				t.Errorf("got %d vectors, error %v", len(vecs), err)
			}
		})
	}
	wg.Wait()
	for _, text := range texts {
		if n := inner.timesSeen(text); n != 1 {
			t.Errorf("%q embedded %d times by concurrent calls, want once", text, n)
		}
	}
}

func TestCachedDoesNotCacheFailures(t *testing.T) {
	boom := errors.New("boom")
	inner := &countingEmbedder{fail: boom}
	c := NewCached(inner, 10)
	if _, err := c.Embed(context.Background(), []string{"x"}); !errors.Is(err, boom) {
		t.Fatalf("error = %v, want the inner error", err)
	}
	inner.fail = nil
	if _, err := c.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if inner.timesSeen("x") != 1 || inner.calls != 2 {
		t.Errorf("after a failure the text was not embedded again")
	}
}

func TestCachedKeysByModel(t *testing.T) {
	a := NewCached(&countingEmbedder{}, 10)
	b := NewCached(NewLocal(8), 10)
	if a.key("same text") == b.key("same text") {
		t.Error("two models share a cache key for one text")
	}
	if _, ok := b.Unwrap().(*LocalEmbedder); !ok || IDOf(b) != IDOf(b.Unwrap()) {
		t.Error("the cache does not show the embedder it wraps")
	}
}

func TestCachedPassesUsageOfMissesOnly(t *testing.T) {
	srv := newFakeEmbeddingsServer(t)
	e, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "m", Dimensions: 4})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCached(e, 10)
	ctx := context.Background()
	if _, u, err := c.EmbedWithUsage(ctx, []string{"hello", "hello", "world"}); err != nil || u.PromptTokens != 10 || u.Requests != 1 {
		t.Fatalf("first call usage %+v, error %v; want 10 tokens in one request", u, err)
	}
	if _, u, err := c.EmbedWithUsage(ctx, []string{"world", "hello"}); err != nil || u != (Usage{}) {
		t.Fatalf("cached call usage %+v, error %v; want none", u, err)
	}
	reqs := srv.received()
	if len(reqs) != 1 || len(reqs[0].Input) != 2 {
		t.Errorf("upstream got %d requests (%v), want one with the two distinct texts", len(reqs), reqs)
	}
}
