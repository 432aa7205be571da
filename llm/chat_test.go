package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"memoryd/llm/chattest"
)

func newTestChat(t *testing.T, srv *chattest.Server, retries int) *Chat {
	t.Helper()
	c, err := NewChat(ChatConfig{BaseURL: srv.BaseURL(), APIKey: "sk-chat",
		Models:     map[Task]string{TaskExtraction: "big-model", TaskUpdate: "small-model"},
		MaxRetries: retries, RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond,
		Price: func(model string) (float64, float64) {
			if model == "big-model" {
				return 2, 8 // USD per million tokens
			}
			return 0, 0
		}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type verdict struct {
	Event string `json:"event"`
}

func parseVerdict(v *verdict) func(string) error {
	return func(s string) error {
		*v = verdict{}
		if err := json.Unmarshal([]byte(s), v); err != nil {
			return err
		}
		if v.Event != "ADD" && v.Event != "NOOP" {
			return fmt.Errorf("event %q is not ADD or NOOP", v.Event)
		}
		return nil
	}
}

func TestChatJSONModelPerTaskAndUsage(t *testing.T) {
	srv := chattest.New(func(n int, req chattest.Request) chattest.Reply {
		return chattest.Reply{Content: "```json\n{\"event\": \"ADD\"}\n```", PromptTokens: 1000, CompletionTokens: 250}
	})
	defer srv.Close()
	c := newTestChat(t, srv, 0)
	var v verdict
	u, err := c.CompleteJSON(context.Background(), TaskExtraction, []Message{{Role: "system", Content: "decide"}, {Role: "user", Content: "fact"}}, parseVerdict(&v))
	if err != nil || v.Event != "ADD" {
		t.Fatalf("verdict %+v, err %v", v, err)
	}
	// 1000 × $2/M + 250 × $8/M = $0.004 = 4000 µ$.
	if u.PromptTokens != 1000 || u.CompletionTokens != 250 || u.Requests != 1 || u.CostMicros != 4000 {
		t.Fatalf("usage = %+v", u)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Model != "big-model" || reqs[0].Auth != "Bearer sk-chat" ||
		reqs[0].ResponseFormat == nil || reqs[0].ResponseFormat.Type != "json_object" {
		t.Fatalf("request = %+v", reqs)
	}
	if _, err := c.CompleteJSON(context.Background(), TaskUpdate, []Message{{Role: "user", Content: "x"}}, parseVerdict(&v)); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests()[1].Model; got != "small-model" {
		t.Fatalf("update task used model %q", got)
	}
	if c.Has(TaskAnswer) {
		t.Fatal("answer task has no model")
	}
	if _, _, err := c.Complete(context.Background(), TaskAnswer, []Message{{Role: "user", Content: "x"}}); !errors.Is(err, ErrNoModel) {
		t.Fatalf("err = %v", err)
	}
}

func TestChatRepairsMalformedJSONOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers []string
		wantErr bool
	}{
		{"repaired", []string{`{"event": "ADD"`, `{"event": "NOOP"}`}, false},
		{"invalid shape repaired", []string{`{"event": "MAYBE"}`, `{"event": "ADD"}`}, false},
		{"still malformed", []string{`{"event": `, `not json at all`, `{"event": "ADD"}`}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := chattest.New(func(n int, req chattest.Request) chattest.Reply {
				return chattest.Reply{Content: tc.answers[n], PromptTokens: 10, CompletionTokens: 5}
			})
			defer srv.Close()
			c := newTestChat(t, srv, 0)
			var v verdict
			u, err := c.CompleteJSON(context.Background(), TaskExtraction, []Message{{Role: "user", Content: "fact"}}, parseVerdict(&v))
			reqs := srv.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want the first and one repair", len(reqs))
			}
			repair := reqs[1].Messages
			if len(repair) != 3 || repair[1].Role != "assistant" || repair[1].Content != tc.answers[0] || repair[2].Role != "user" {
				t.Fatalf("repair request = %+v", repair)
			}
			if u.Requests != 2 || u.PromptTokens != 20 {
				t.Fatalf("usage = %+v: both requests were paid for", u)
			}
			if tc.wantErr {
				var ioe *InvalidOutputError
				if !errors.Is(err, ErrInvalidOutput) || !errors.As(err, &ioe) || ioe.Task != TaskExtraction {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || v.Event == "" {
				t.Fatalf("verdict %+v, err %v", v, err)
			}
		})
	}
}

func TestChatRetries429And500(t *testing.T) {
	srv := chattest.New(func(n int, req chattest.Request) chattest.Reply {
		switch n {
		case 0:
			return chattest.Reply{Status: http.StatusTooManyRequests, RetryAfter: "0"}
		case 1:
			return chattest.Reply{Status: http.StatusInternalServerError}
		case 2:
			return chattest.Reply{Status: http.StatusBadGateway}
		}
		return chattest.Reply{Content: "Paris.", PromptTokens: 7, CompletionTokens: 2}
	})
	defer srv.Close()
	c := newTestChat(t, srv, 3)
	text, u, err := c.Complete(context.Background(), TaskExtraction, []Message{{Role: "user", Content: "where?"}})
	if err != nil || text != "Paris." {
		t.Fatalf("text %q, err %v", text, err)
	}
	if len(srv.Requests()) != 4 || u.Requests != 1 || u.PromptTokens != 7 || u.CompletionTokens != 2 {
		t.Fatalf("%d requests, usage %+v", len(srv.Requests()), u)
	}

	// Retries spent: an upstream error naming the last status.
	down := chattest.New(func(int, chattest.Request) chattest.Reply {
		return chattest.Reply{Status: http.StatusServiceUnavailable}
	})
	defer down.Close()
	c = newTestChat(t, down, 2)
	_, _, err = c.Complete(context.Background(), TaskExtraction, []Message{{Role: "user", Content: "x"}})
	var up *UpstreamError
	if !errors.Is(err, ErrUpstream) || !errors.As(err, &up) || up.StatusCode != 503 || up.Attempts != 3 {
		t.Fatalf("err = %v", err)
	}
	// A 400 is the request's own fault: not retried.
	bad := chattest.New(func(int, chattest.Request) chattest.Reply { return chattest.Reply{Status: http.StatusBadRequest} })
	defer bad.Close()
	c = newTestChat(t, bad, 3)
	if _, _, err = c.Complete(context.Background(), TaskExtraction, []Message{{Role: "user", Content: "x"}}); !errors.Is(err, ErrUpstream) || len(bad.Requests()) != 1 {
		t.Fatalf("err = %v after %d requests", err, len(bad.Requests()))
	}
}

func TestChatTimeoutPerAttempt(t *testing.T) {
	srv := chattest.New(func(n int, req chattest.Request) chattest.Reply {
		if n == 0 {
			return chattest.Reply{Delay: time.Minute, Content: "late"}
		}
		return chattest.Reply{Content: "on time"}
	})
	defer srv.Close()
	// The timeout leaves a loaded machine (-race, 2 cores) time for a local round trip;
	// the first answer would come far later.
	c, err := NewChat(ChatConfig{BaseURL: srv.BaseURL(), Models: map[Task]string{TaskAnswer: "m"}, Timeout: time.Second,
		RetryBaseDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	text, _, err := c.Complete(context.Background(), TaskAnswer, []Message{{Role: "user", Content: "x"}})
	if err != nil || text != "on time" || len(srv.Requests()) != 2 {
		t.Fatalf("text %q, err %v after %d requests", text, err, len(srv.Requests()))
	}
}

func TestNewChatNeedsAModel(t *testing.T) {
	if _, err := NewChat(ChatConfig{Models: map[Task]string{TaskAnswer: ""}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
	var nilChat *Chat
	if nilChat.Has(TaskAnswer) {
		t.Fatal("a nil client has no models")
	}
}
