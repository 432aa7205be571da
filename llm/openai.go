package llm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// OpenAIConfig configures an embedder on any OpenAI-compatible
// /v1/embeddings endpoint: OpenAI, Azure's v1 API, Ollama, vLLM, TEI.
type OpenAIConfig struct {
	// BaseURL is the API root, e.g. "https://api.openai.com/v1" (the
	// default) or "http://localhost:11434/v1".
	BaseURL string
	// APIKey is sent as a bearer token; empty sends none.
	APIKey string
	// Model is required, e.g. "text-embedding-3-small".
	Model string
	// Dimensions, when positive, is sent as the request's "dimensions" and
	// every answer must have it. Zero sends none (for endpoints that reject
	// the field) and takes the length of the first answer.
	Dimensions int
	// BatchSize is the most texts per request; default 100.
	BatchSize int
	// MaxRetries is the number of retries after a failed attempt, on 429,
	// 5xx, timeouts and transport errors; default 3, negative for none.
	MaxRetries int
	// Timeout bounds each attempt; default 30 s.
	Timeout time.Duration
	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff;
	// defaults 500 ms and 20 s.
	RetryBaseDelay, RetryMaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After that is waited for; a longer
	// one fails the call at once. Default 60 s.
	MaxRetryAfter time.Duration
	// HTTPClient, when set, sends the requests (proxies, TLS settings).
	HTTPClient *http.Client
}

// Defaults of OpenAIConfig.
const (
	DefaultOpenAIBaseURL   = "https://api.openai.com/v1"
	DefaultOpenAIBatchSize = 100
	DefaultOpenAIRetries   = 3
	DefaultOpenAITimeout   = 30 * time.Second
)

// ErrInvalidConfig is wrapped by errors from constructors given a config
// they cannot work with.
var ErrInvalidConfig = errors.New("llm: invalid configuration")

// OpenAIEmbedder embeds texts with an OpenAI-compatible endpoint. Texts are
// sent in batches, one batch at a time, so a large call stays inside the
// provider's request limits and its rate limit.
type OpenAIEmbedder struct {
	client    *openai.Client
	model     string
	sendDims  int
	dim       atomic.Int64 // configured, or learned from the first answer
	batchSize int
	timeout   time.Duration
	retry     retryPolicy
}

// NewOpenAI returns an embedder for cfg, with defaults for the fields it
// leaves zero.
func NewOpenAI(cfg OpenAIConfig) (*OpenAIEmbedder, error) {
	if cfg.Model == "" {
		return nil, fmt.Errorf("%w: the embedding model is required", ErrInvalidConfig)
	}
	if cfg.Dimensions < 0 || cfg.BatchSize < 0 || cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: dimensions, batch size and timeout cannot be negative", ErrInvalidConfig)
	}
	e := &OpenAIEmbedder{
		client:    newClient(cfg.BaseURL, cfg.APIKey, cfg.HTTPClient),
		model:     cfg.Model,
		sendDims:  cfg.Dimensions,
		batchSize: cmp.Or(cfg.BatchSize, DefaultOpenAIBatchSize),
		timeout:   cmp.Or(cfg.Timeout, DefaultOpenAITimeout),
		retry:     newRetryPolicy(cfg.MaxRetries, cfg.RetryBaseDelay, cfg.RetryMaxDelay, cfg.MaxRetryAfter),
	}
	e.dim.Store(int64(cfg.Dimensions))
	return e, nil
}

// Dim is the configured Dimensions, or the length of the first answer when
// none was configured (zero before it).
func (e *OpenAIEmbedder) Dim() int      { return int(e.dim.Load()) }
func (e *OpenAIEmbedder) Name() string  { return "openai" }
func (e *OpenAIEmbedder) Model() string { return e.model }

// Embed embeds texts; see EmbedWithUsage.
func (e *OpenAIEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, _, err := e.EmbedWithUsage(ctx, texts)
	return vecs, err
}

// EmbedWithUsage embeds texts in batches and returns the prompt tokens the
// provider counted. A failure after retries is an *UpstreamError (matching
// ErrUpstream); a done ctx returns ctx's error. On any error no vectors are
// returned, but the usage of the batches that succeeded is, since they
// were paid for.
func (e *OpenAIEmbedder) EmbedWithUsage(ctx context.Context, texts []string) ([][]float32, Usage, error) {
	vecs := make([][]float32, 0, len(texts))
	var usage Usage
	for start := 0; start < len(texts); start += e.batchSize {
		batch := texts[start:min(start+e.batchSize, len(texts))]
		got, u, err := e.embedBatch(ctx, batch)
		usage = usage.Add(u)
		if err != nil {
			return nil, usage, err
		}
		vecs = append(vecs, got...)
	}
	return vecs, usage, nil
}

// newClient returns a go-openai client for an OpenAI-compatible API root (the
// default: OpenAI's) whose requests note each answer's Retry-After.
func newClient(baseURL, apiKey string, httpClient *http.Client) *openai.Client {
	clientCfg := openai.DefaultConfig(apiKey)
	clientCfg.BaseURL = cmp.Or(baseURL, DefaultOpenAIBaseURL)
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	clientCfg.HTTPClient = noteTakingDoer{client: httpClient}
	return openai.NewClientWithConfig(clientCfg)
}

// embedBatch sends one request, retrying as the policy allows.
func (e *OpenAIEmbedder) embedBatch(ctx context.Context, texts []string) ([][]float32, Usage, error) {
	type answer struct {
		vecs  [][]float32
		usage Usage
	}
	a, err := withRetries(ctx, e.retry, func() (answer, time.Duration, error) {
		vecs, usage, retryAfter, err := e.attempt(ctx, texts)
		return answer{vecs, usage}, retryAfter, err
	})
	return a.vecs, a.usage, err
}

// attempt makes one request under the per-attempt timeout. An answer that
// is malformed is an *UpstreamError with status 200, which is not retried:
// the same request would get the same answer.
func (e *OpenAIEmbedder) attempt(ctx context.Context, texts []string) ([][]float32, Usage, time.Duration, error) {
	note := &responseNote{}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, responseNoteKey{}, note), e.timeout)
	defer cancel()
	resp, err := e.client.CreateEmbeddings(ctx, openai.EmbeddingRequestStrings{
		Input:          texts,
		Model:          openai.EmbeddingModel(e.model),
		EncodingFormat: openai.EmbeddingEncodingFormatFloat,
		Dimensions:     e.sendDims,
	})
	if err != nil {
		return nil, Usage{}, note.retryAfter, err
	}
	vecs, err := e.collect(resp, len(texts))
	if err != nil {
		return nil, Usage{}, 0, &UpstreamError{StatusCode: http.StatusOK, Err: err}
	}
	return vecs, Usage{PromptTokens: resp.Usage.PromptTokens, Requests: 1}, 0, nil
}

// collect puts the answer's embeddings in input order, checks that every
// input got one vector of the expected length, and normalises them, since
// not every compatible server does.
func (e *OpenAIEmbedder) collect(resp openai.EmbeddingResponse, n int) ([][]float32, error) {
	if len(resp.Data) != n {
		return nil, fmt.Errorf("answer has %d embeddings for %d inputs", len(resp.Data), n)
	}
	vecs := make([][]float32, n)
	for _, d := range resp.Data {
		if d.Index < 0 || d.Index >= n || vecs[d.Index] != nil {
			return nil, fmt.Errorf("answer has a missing or repeated embedding index %d", d.Index)
		}
		if len(d.Embedding) == 0 {
			return nil, fmt.Errorf("answer has an empty embedding at index %d", d.Index)
		}
		vecs[d.Index] = d.Embedding
	}
	want := int(e.dim.Load())
	if want == 0 {
		e.dim.CompareAndSwap(0, int64(len(vecs[0])))
		want = int(e.dim.Load())
	}
	for i, v := range vecs {
		if len(v) != want {
			return nil, fmt.Errorf("embedding %d has %d dimensions, want %d", i, len(v), want)
		}
		normalize(v)
	}
	return vecs, nil
}
