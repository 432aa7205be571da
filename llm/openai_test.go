package llm

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEmbeddingsServer speaks the OpenAI /v1/embeddings wire format. Each
// request is answered by the script's entry for its number (the last entry
// answers the rest); an entry with status 200 answers with embeddings.
type fakeEmbeddingsServer struct {
	*httptest.Server
	t      *testing.T
	script []fakeAnswer

	mu       sync.Mutex
	requests []fakeRequest
}

type fakeAnswer struct {
	status     int
	retryAfter string
	delay      time.Duration
	badCount   bool // answer one embedding too few
}

type fakeRequest struct {
	Input          []string `json:"input"`
	Model          string   `json:"model"`
	Dimensions     int      `json:"dimensions"`
	EncodingFormat string   `json:"encoding_format"`
	auth           string
	path           string
}

func newFakeEmbeddingsServer(t *testing.T, script ...fakeAnswer) *fakeEmbeddingsServer {
	t.Helper()
	if len(script) == 0 {
		script = []fakeAnswer{{status: http.StatusOK}}
	}
	f := &fakeEmbeddingsServer{t: t, script: script}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeEmbeddingsServer) serve(w http.ResponseWriter, r *http.Request) {
	var req fakeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req.auth = r.Header.Get("Authorization")
	req.path = r.URL.Path
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	answer := f.script[min(n, len(f.script)-1)]

	if answer.delay > 0 {
		select {
		case <-time.After(answer.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if answer.retryAfter != "" {
		w.Header().Set("Retry-After", answer.retryAfter)
	}
	if answer.status != http.StatusOK {
		w.WriteHeader(answer.status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
			"message": "scripted failure " + strconv.Itoa(answer.status),
			"type":    "server_error", "param": nil, "code": nil,
		}})
		return
	}
	dims := req.Dimensions
	if dims == 0 {
		dims = 8
	}
	inputs := req.Input
	if answer.badCount {
		inputs = inputs[1:]
	}
	data := make([]map[string]any, 0, len(inputs))
	tokens := 0
	// Answer in reverse order: clients must place vectors by index.
	for i := len(inputs) - 1; i >= 0; i-- {
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": fakeVector(inputs[i], dims)})
		tokens += len(inputs[i])
	}
	json.NewEncoder(w).Encode(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

func (f *fakeEmbeddingsServer) received() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

// fakeVector is a vector that depends only on text, not normalised, so that
// tests see the client normalise it.
func fakeVector(text string, dims int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(text))
	seed := h.Sum64()
	v := make([]float32, dims)
	for i := range v {
		seed = mix64(seed + uint64(i))
		v[i] = float32(seed%1000) + 1
	}
	return v
}

// fastRetries makes backoff negligible so tests measure only what they mean to.
func fastRetries(cfg OpenAIConfig) OpenAIConfig {
	cfg.RetryBaseDelay = time.Millisecond
	cfg.RetryMaxDelay = 2 * time.Millisecond
	return cfg
}

func TestOpenAIBatchesAndOrder(t *testing.T) {
	srv := newFakeEmbeddingsServer(t)
	e, err := NewOpenAI(OpenAIConfig{
		BaseURL: srv.URL + "/v1", APIKey: "sk-test", Model: "text-embedding-3-small",
		Dimensions: 16, BatchSize: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, 250)
	wantTokens := 0
	for i := range texts {
		texts[i] = "memory number " + strconv.Itoa(i)
		wantTokens += len(texts[i])
	}
	vecs, usage, err := e.EmbedWithUsage(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}

	reqs := srv.received()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	for i, want := range []int{100, 100, 50} {
		r := reqs[i]
		if len(r.Input) != want || r.Model != "text-embedding-3-small" || r.Dimensions != 16 ||
			r.auth != "Bearer sk-test" || r.path != "/v1/embeddings" || r.EncodingFormat != "float" {
			t.Errorf("request %d = %d inputs, model %q, dimensions %d, auth %q, path %q, format %q",
				i, len(r.Input), r.Model, r.Dimensions, r.auth, r.path, r.EncodingFormat)
		}
	}
	if usage != (Usage{PromptTokens: wantTokens, Requests: 3}) {
		t.Errorf("usage = %+v, want %d prompt tokens in 3 requests", usage, wantTokens)
	}
	if len(vecs) != len(texts) {
		t.Fatalf("got %d vectors for %d texts", len(vecs), len(texts))
	}
	for i, v := range vecs {
		want := fakeVector(texts[i], 16)
		normalize(want)
		if len(v) != 16 || v[0] != want[0] || v[15] != want[15] {
			t.Fatalf("vector %d does not belong to its text", i)
		}
		assertUnitLength(t, v)
	}
	if e.Dim() != 16 || e.Name() != "openai" || e.Model() != "text-embedding-3-small" {
		t.Errorf("identity = %v", IDOf(e))
	}
}

func TestOpenAILearnsDimensionsWhenNotConfigured(t *testing.T) {
	srv := newFakeEmbeddingsServer(t)
	e, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "nomic-embed-text"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Dim() != 0 {
		t.Fatalf("Dim before any call = %d, want 0", e.Dim())
	}
	if _, err := e.Embed(context.Background(), []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	r := srv.received()[0]
	if r.Dimensions != 0 || r.auth != "" {
		t.Errorf("request sent dimensions %d and auth %q, want neither", r.Dimensions, r.auth)
	}
	if e.Dim() != 8 {
		t.Errorf("Dim after a call = %d, want 8 (the answer's length)", e.Dim())
	}
}

func TestOpenAIRetries(t *testing.T) {
	tests := []struct {
		name         string
		script       []fakeAnswer
		maxRetries   int
		wantRequests int
		wantStatus   int // 0: success expected
	}{
		{"429 then success", []fakeAnswer{{status: 429}, {status: 200}}, 3, 2, 0},
		{"503 twice then success", []fakeAnswer{{status: 503}, {status: 503}, {status: 200}}, 3, 3, 0},
		{"500 every time", []fakeAnswer{{status: 500}}, 3, 4, 500},
		{"429 every time", []fakeAnswer{{status: 429}}, 2, 3, 429},
		{"400 is not retried", []fakeAnswer{{status: 400}, {status: 200}}, 3, 1, 400},
		{"401 is not retried", []fakeAnswer{{status: 401}, {status: 200}}, 3, 1, 401},
		{"malformed answer is not retried", []fakeAnswer{{status: 200, badCount: true}, {status: 200}}, 3, 1, 200},
		{"no retries configured", []fakeAnswer{{status: 500}, {status: 200}}, -1, 1, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeEmbeddingsServer(t, tt.script...)
			e, err := NewOpenAI(fastRetries(OpenAIConfig{
				BaseURL: srv.URL + "/v1", Model: "m", Dimensions: 4, MaxRetries: tt.maxRetries,
			}))
			if err != nil {
				t.Fatal(err)
			}
			vecs, usage, err := e.EmbedWithUsage(context.Background(), []string{"a", "b"})
			if got := len(srv.received()); got != tt.wantRequests {
				t.Errorf("got %d requests, want %d", got, tt.wantRequests)
			}
			if tt.wantStatus == 0 {
				if err != nil || len(vecs) != 2 || usage.Requests != 1 {
					t.Fatalf("got %d vectors, usage %+v, error %v; want success after retries", len(vecs), usage, err)
				}
				return
			}
			if !errors.Is(err, ErrUpstream) {
				t.Fatalf("error = %v, want ErrUpstream", err)
			}
			var upstream *UpstreamError
			if !errors.As(err, &upstream) || upstream.StatusCode != tt.wantStatus || upstream.Attempts != tt.wantRequests {
				t.Errorf("upstream error = %+v, want status %d after %d attempts", upstream, tt.wantStatus, tt.wantRequests)
			}
			if vecs != nil {
				t.Errorf("got vectors with an error")
			}
		})
	}
}

func TestOpenAIHonoursRetryAfter(t *testing.T) {
	srv := newFakeEmbeddingsServer(t, fakeAnswer{status: 429, retryAfter: "1"}, fakeAnswer{status: 200})
	e, err := NewOpenAI(fastRetries(OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "m", Dimensions: 4}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := e.Embed(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %v, want at least the 1 s of Retry-After", waited)
	}
	if got := len(srv.received()); got != 2 {
		t.Errorf("got %d requests, want 2", got)
	}
}

func TestOpenAIRetryAfterTooLongFailsAtOnce(t *testing.T) {
	srv := newFakeEmbeddingsServer(t, fakeAnswer{status: 429, retryAfter: "3600"}, fakeAnswer{status: 200})
	e, err := NewOpenAI(fastRetries(OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "m", Dimensions: 4}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = e.Embed(context.Background(), []string{"a"})
	if !errors.Is(err, ErrUpstream) || time.Since(start) > 5*time.Second {
		t.Errorf("error = %v after %v, want ErrUpstream at once", err, time.Since(start))
	}
}

func TestOpenAITimeout(t *testing.T) {
	srv := newFakeEmbeddingsServer(t, fakeAnswer{status: 200, delay: 2 * time.Second})
	e, err := NewOpenAI(fastRetries(OpenAIConfig{
		BaseURL: srv.URL + "/v1", Model: "m", Dimensions: 4, MaxRetries: 1, Timeout: 50 * time.Millisecond,
	}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = e.Embed(context.Background(), []string{"a"})
	var upstream *UpstreamError
	if !errors.As(err, &upstream) || upstream.StatusCode != 0 || upstream.Attempts != 2 {
		t.Fatalf("error = %v, want an UpstreamError without status after 2 attempts", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want it to wrap the deadline", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("took %v, want each attempt cut at 50 ms", elapsed)
	}
}

func TestOpenAICallerCancelIsNotUpstream(t *testing.T) {
	srv := newFakeEmbeddingsServer(t, fakeAnswer{status: 200, delay: 2 * time.Second})
	e, err := NewOpenAI(fastRetries(OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "m", Dimensions: 4}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = e.Embed(ctx, []string{"a"})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUpstream) {
		t.Errorf("error = %v, want the caller's deadline and not ErrUpstream", err)
	}
	if got := len(srv.received()); got != 1 {
		t.Errorf("got %d requests, want no retry once the caller gave up", got)
	}
}

func TestNewOpenAIRejectsBadConfig(t *testing.T) {
	for _, cfg := range []OpenAIConfig{{}, {Model: "m", Dimensions: -1}, {Model: "m", BatchSize: -5}} {
		if _, err := NewOpenAI(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewOpenAI(%+v) error = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		header, value string
		want          time.Duration
	}{
		{"Retry-After", "2", 2 * time.Second},
		{"Retry-After", "0.5", 500 * time.Millisecond},
		{"Retry-After", now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second},
		{"Retry-After", "soon", 0},
		{"Retry-After", "-1", 0},
		{"Retry-After-Ms", "250", 250 * time.Millisecond},
	}
	for _, tt := range tests {
		h := http.Header{}
		h.Set(tt.header, tt.value)
		if got := parseRetryAfter(h, now); got != tt.want {
			t.Errorf("%s: %s = %v, want %v", tt.header, tt.value, got, tt.want)
		}
	}
}

func TestBackoffGrowsAndStaysBounded(t *testing.T) {
	p := retryPolicy{maxRetries: 10, baseDelay: 100 * time.Millisecond, maxDelay: time.Second, maxRetryAfter: time.Minute}
	for n := range 10 {
		want := min(100*time.Millisecond<<n, time.Second)
		for range 20 {
			if d := p.backoff(n); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
	if d, ok := p.wait(0, 3*time.Second); !ok || d != 3*time.Second {
		t.Errorf("wait with Retry-After 3 s = %v, %v", d, ok)
	}
	if _, ok := p.wait(0, 2*time.Minute); ok {
		t.Errorf("wait accepted a Retry-After beyond the limit")
	}
}

// TestOpenAIRealEndpoint runs against a real provider when configured:
// MEMORYD_TEST_OPENAI_BASE_URL, MEMORYD_TEST_OPENAI_API_KEY and
// MEMORYD_TEST_OPENAI_EMBED_MODEL.
func TestOpenAIRealEndpoint(t *testing.T) {
	baseURL := os.Getenv("MEMORYD_TEST_OPENAI_BASE_URL")
	apiKey := os.Getenv("MEMORYD_TEST_OPENAI_API_KEY")
	model := os.Getenv("MEMORYD_TEST_OPENAI_EMBED_MODEL")
	if baseURL == "" || apiKey == "" || model == "" {
		t.Skip("set MEMORYD_TEST_OPENAI_BASE_URL, MEMORYD_TEST_OPENAI_API_KEY and MEMORYD_TEST_OPENAI_EMBED_MODEL to test a real endpoint")
	}
	e, err := NewOpenAI(OpenAIConfig{BaseURL: baseURL, APIKey: apiKey, Model: model, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	texts := []string{"The user adopted a puppy named Max.", "What is the name of the user's dog?", "Quarterly tax filing deadlines"}
	vecs, usage, err := e.EmbedWithUsage(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 3 || e.Dim() == 0 || usage.PromptTokens == 0 || usage.Requests != 2 {
		t.Fatalf("got %d vectors of dim %d, usage %+v", len(vecs), e.Dim(), usage)
	}
	for _, v := range vecs {
		assertUnitLength(t, v)
	}
	if related, unrelated := dot(vecs[0], vecs[1]), dot(vecs[2], vecs[1]); related <= unrelated {
		t.Errorf("related texts score %.3f, unrelated %.3f", related, unrelated)
	}
}

func TestOpenAIEmptyInputSendsNothing(t *testing.T) {
	srv := newFakeEmbeddingsServer(t)
	e, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "m", Dimensions: 4})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCached(e, 10)
	for _, emb := range []Embedder{e, c} {
		vecs, err := emb.Embed(context.Background(), nil)
		if err != nil || len(vecs) != 0 {
			t.Errorf("%T: got %d vectors, error %v", emb, len(vecs), err)
		}
	}
	if got := len(srv.received()); got != 0 {
		t.Errorf("empty input sent %d requests", got)
	}
}

// An endpoint that answers with vectors of another length than configured is an
// error, never a vector silently stored at the wrong size.
func TestOpenAIDimensionMismatch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Input []string `json:"input"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		data := make([]map[string]any, len(req.Input))
		for i := range req.Input {
			data[i] = map[string]any{"object": "embedding", "index": i, "embedding": fakeVector(req.Input[i], 12)}
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": "m",
			"usage": map[string]int{"prompt_tokens": 3, "total_tokens": 3}})
	}))
	defer srv.Close()
	e, err := NewOpenAI(fastRetries(OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "m", Dimensions: 16}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Embed(context.Background(), []string{"a", "b"})
	if err == nil || !strings.Contains(err.Error(), "12 dimensions, want 16") {
		t.Fatalf("err = %v, want a dimension mismatch", err)
	}
}
