package llm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Task names what a chat call is for, so each can use its own model: a small
// one for the cheap steps (update decisions, re-ranking), a better one where
// it pays (extraction, answers).
type Task string

// The tasks of memoryd's chat calls.
const (
	TaskExtraction Task = "extraction"
	TaskUpdate     Task = "update"
	TaskRerank     Task = "rerank"
	TaskAnswer     Task = "answer"
)

// ChatConfig configures a chat client on any OpenAI-compatible
// /v1/chat/completions endpoint: OpenAI, Azure's v1 API, Ollama, vLLM,
// llama.cpp's server.
type ChatConfig struct {
	// BaseURL is the API root; default "https://api.openai.com/v1".
	BaseURL string
	// APIKey is sent as a bearer token; empty sends none.
	APIKey string
	// Models maps each task to its model. A task without a model cannot be
	// run (Has reports false).
	Models map[Task]string
	// PlainJSON stops sending response_format json_object, for servers that
	// reject it; answers are still parsed and validated as JSON.
	PlainJSON bool
	// MaxRetries is the number of retries after a failed attempt, on 429,
	// 5xx, timeouts and transport errors; default 3, negative for none.
	MaxRetries int
	// Timeout bounds each attempt; default 60 s.
	Timeout time.Duration
	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff;
	// defaults 500 ms and 20 s. MaxRetryAfter is the longest Retry-After
	// waited for (default 60 s).
	RetryBaseDelay, RetryMaxDelay, MaxRetryAfter time.Duration
	// Price, when set, gives a model's price in USD per million input and
	// output tokens, for the cost each call reports.
	Price func(model string) (inPer1M, outPer1M float64)
	// HTTPClient, when set, sends the requests.
	HTTPClient *http.Client
}

// DefaultChatTimeout bounds one chat attempt when the config names none.
const DefaultChatTimeout = 60 * time.Second

// Chat calls chat models. It is safe for concurrent use.
type Chat struct {
	client  *openai.Client
	models  map[Task]string
	json    bool
	timeout time.Duration
	retry   retryPolicy
	price   func(string) (float64, float64)
}

// NewChat returns a chat client for cfg, with defaults for the fields it
// leaves zero.
func NewChat(cfg ChatConfig) (*Chat, error) {
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: the chat timeout cannot be negative", ErrInvalidConfig)
	}
	models := map[Task]string{}
	for t, m := range cfg.Models {
		if m != "" {
			models[t] = m
		}
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("%w: no chat model is configured", ErrInvalidConfig)
	}
	return &Chat{
		client:  newClient(cfg.BaseURL, cfg.APIKey, cfg.HTTPClient),
		models:  models,
		json:    !cfg.PlainJSON,
		timeout: cmp.Or(cfg.Timeout, DefaultChatTimeout),
		retry:   newRetryPolicy(cfg.MaxRetries, cfg.RetryBaseDelay, cfg.RetryMaxDelay, cfg.MaxRetryAfter),

		price: cfg.Price,
	}, nil
}

// Has reports whether a model is configured for the task. A nil *Chat has none.
func (c *Chat) Has(t Task) bool { return c != nil && c.models[t] != "" }

// Model is the task's model, or "" when none is configured.
func (c *Chat) Model(t Task) string {
	if c == nil {
		return ""
	}
	return c.models[t]
}

// Message is one turn of a chat request.
type Message struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// ChatUsage is what chat calls cost: the provider's token counts, the
// requests that succeeded, and their price in micro-USD.
type ChatUsage struct {
	PromptTokens     int
	CompletionTokens int
	Requests         int
	CostMicros       int64
}

// Add returns the sum of two usages.
func (u ChatUsage) Add(o ChatUsage) ChatUsage {
	return ChatUsage{PromptTokens: u.PromptTokens + o.PromptTokens, CompletionTokens: u.CompletionTokens + o.CompletionTokens,
		Requests: u.Requests + o.Requests, CostMicros: u.CostMicros + o.CostMicros}
}

// ErrNoModel is returned for a task with no configured model.
var ErrNoModel = errors.New("llm: no chat model is configured for this task")

// ErrInvalidOutput is wrapped by the error of a JSON call whose answer, and
// the answer to the one repair request after it, were not valid.
var ErrInvalidOutput = errors.New("llm: the model's answer was not valid JSON of the expected shape")

// InvalidOutputError says what was wrong with the model's last answer.
type InvalidOutputError struct {
	Task   Task
	Reason string // the parse or validation error of the last answer
}

func (e *InvalidOutputError) Error() string {
	return fmt.Sprintf("llm: %s model answered invalid JSON twice (after one repair request): %s", e.Task, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidOutput) true.
func (e *InvalidOutputError) Is(target error) bool { return target == ErrInvalidOutput }

// Complete sends msgs to the task's model and returns its text answer.
func (c *Chat) Complete(ctx context.Context, t Task, msgs []Message) (string, ChatUsage, error) {
	return c.complete(ctx, t, msgs, false)
}

// CompleteJSON asks the task's model for a JSON object and gives its text to
// parse, which decodes and validates it. When parse fails, the model is
// asked once to repair its answer, told what was wrong; when that answer
// fails too, the error wraps ErrInvalidOutput. The usage of every request
// made is returned, failed or not: they were paid for.
func (c *Chat) CompleteJSON(ctx context.Context, t Task, msgs []Message, parse func(content string) error) (ChatUsage, error) {
	content, usage, err := c.complete(ctx, t, msgs, true)
	if err != nil {
		return usage, err
	}
	perr := parse(stripFence(content))
	if perr == nil {
		return usage, nil
	}
	repair := append(append([]Message{}, msgs...),
		Message{Role: "assistant", Content: content},
		Message{Role: "user", Content: "Your answer was not valid: " + perr.Error() +
			". Reply again with only the corrected JSON object, nothing else."})
	content, u, err := c.complete(ctx, t, repair, true)
	usage = usage.Add(u)
	if err != nil {
		return usage, err
	}
	if perr := parse(stripFence(content)); perr != nil {
		return usage, &InvalidOutputError{Task: t, Reason: perr.Error()}
	}
	return usage, nil
}

// stripFence removes a Markdown code fence around an answer, which models
// add even when asked for bare JSON.
func stripFence(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "```") {
		return s
	}
	s = strings.TrimPrefix(s, "```")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:] // the fence's language tag
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "```"))
}

func (c *Chat) complete(ctx context.Context, t Task, msgs []Message, asJSON bool) (string, ChatUsage, error) {
	model := c.Model(t)
	if model == "" {
		return "", ChatUsage{}, ErrNoModel
	}
	req := openai.ChatCompletionRequest{Model: model, Messages: make([]openai.ChatCompletionMessage, len(msgs))}
	for i, m := range msgs {
		req.Messages[i] = openai.ChatCompletionMessage{Role: m.Role, Content: m.Content}
	}
	if asJSON && c.json {
		req.ResponseFormat = &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject}
	}
	type answer struct {
		content string
		usage   ChatUsage
	}
	a, err := withRetries(ctx, c.retry, func() (answer, time.Duration, error) {
		note := &responseNote{}
		actx, cancel := context.WithTimeout(context.WithValue(ctx, responseNoteKey{}, note), c.timeout)
		defer cancel()
		resp, err := c.client.CreateChatCompletion(actx, req)
		if err != nil {
			return answer{}, note.retryAfter, err
		}
		u := ChatUsage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens, Requests: 1}
		u.CostMicros = c.cost(model, u)
		if len(resp.Choices) == 0 {
			// Paid for, but nothing to read; the same request may well do better.
			return answer{usage: u}, 0, &UpstreamError{StatusCode: http.StatusBadGateway, Err: errors.New("answer has no choices")}
		}
		return answer{content: resp.Choices[0].Message.Content, usage: u}, 0, nil
	})
	return a.content, a.usage, err
}

// cost prices a call with the configured price table; unknown models cost 0.
func (c *Chat) cost(model string, u ChatUsage) int64 {
	if c.price == nil {
		return 0
	}
	in, out := c.price(model)
	// A price per million tokens in USD is a price per token in micro-USD.
	return int64(math.Round(float64(u.PromptTokens)*in + float64(u.CompletionTokens)*out))
}
