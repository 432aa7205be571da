package llm

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Embedder turns texts into L2-normalised vectors of length Dim(). The i-th
// vector answers the i-th text. An embedder is safe for concurrent use.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dim is the length of every vector the embedder returns.
	Dim() int
	// Name names the kind of embedder, e.g. "local" or "openai".
	Name() string
	// Model names the model and its version, e.g. "local-v1" or
	// "text-embedding-3-small". Vectors made under two different models
	// are not comparable.
	Model() string
}

// Usage is what one call cost upstream, so that callers can meter it.
type Usage struct {
	// PromptTokens is the provider's usage.prompt_tokens, summed over the
	// requests of the call. The local embedder counts its own word tokens.
	PromptTokens int
	// Requests is the number of upstream requests that succeeded; retries
	// that failed are not counted. Zero for the local embedder.
	Requests int
}

// Add returns the sum of two usages.
func (u Usage) Add(other Usage) Usage {
	return Usage{PromptTokens: u.PromptTokens + other.PromptTokens, Requests: u.Requests + other.Requests}
}

// UsageEmbedder is an Embedder that also reports what a call cost.
type UsageEmbedder interface {
	Embedder
	EmbedWithUsage(ctx context.Context, texts []string) ([][]float32, Usage, error)
}

// EmbedWithUsage embeds texts with e and reports the usage when e can tell
// it; for an embedder that cannot, the usage is zero.
func EmbedWithUsage(ctx context.Context, e Embedder, texts []string) ([][]float32, Usage, error) {
	if ue, ok := e.(UsageEmbedder); ok {
		return ue.EmbedWithUsage(ctx, texts)
	}
	vecs, err := e.Embed(ctx, texts)
	return vecs, Usage{}, err
}

// ErrUpstream is wrapped by every error that comes from a model provider
// after retries, so the API can answer 502 UPSTREAM_ERROR with errors.Is.
var ErrUpstream = errors.New("llm: upstream model provider failed")

// UpstreamError is the provider's failure after the last attempt.
type UpstreamError struct {
	// StatusCode is the last HTTP status, or 0 when no answer came back.
	StatusCode int
	// Attempts is how many requests were made.
	Attempts int
	// Err is the provider's or the transport's error.
	Err error
}

func (e *UpstreamError) Error() string {
	if e.StatusCode > 0 {
		return fmt.Sprintf("llm: upstream failed with status %d after %d attempt(s): %v", e.StatusCode, e.Attempts, e.Err)
	}
	return fmt.Sprintf("llm: upstream failed after %d attempt(s): %v", e.Attempts, e.Err)
}

// Is makes errors.Is(err, ErrUpstream) true for every UpstreamError.
func (e *UpstreamError) Is(target error) bool { return target == ErrUpstream }

func (e *UpstreamError) Unwrap() error { return e.Err }

// EmbedderID is what a stored vector records about the embedder that made
// it. Two IDs that differ mean the vectors are not comparable.
type EmbedderID struct {
	Name  string `json:"name"`
	Model string `json:"model"`
	Dim   int    `json:"dim"`
}

// IDOf returns the identity of e.
func IDOf(e Embedder) EmbedderID {
	return EmbedderID{Name: e.Name(), Model: e.Model(), Dim: e.Dim()}
}

func (id EmbedderID) String() string {
	return fmt.Sprintf("%s/%s/%d", id.Name, id.Model, id.Dim)
}

// ErrModelChanged is wrapped by the error CheckModel returns when stored
// vectors were made by another embedder than the configured one.
var ErrModelChanged = errors.New("llm: embedding model changed")

// CheckModel compares the identity recorded with stored vectors against the
// configured embedder's. It returns nil when they match or nothing was
// stored yet (a zero stored ID), else an error wrapping ErrModelChanged that
// names both, for the start-up report; stored vectors then need re-embedding.
func CheckModel(stored, current EmbedderID) error {
	if stored == (EmbedderID{}) || stored == current {
		return nil
	}
	return fmt.Errorf("%w: stored vectors were made by %s, the configured embedder is %s; re-embed with /v1/batch/embeddings",
		ErrModelChanged, stored, current)
}

// normalize scales v to unit L2 length in place; a zero vector stays zero.
func normalize(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(float64(x) * float64(x)) // no fused multiply-add: see LocalEmbedder.add
	}
	if sum == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
}
