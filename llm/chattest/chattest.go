// Package chattest is a local stand-in for an OpenAI-compatible chat model: an
// httptest server speaking the /v1/chat/completions wire format whose answers a
// test scripts, for the tests of every package that calls a chat model.
package chattest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Request is a chat completions request as the server received it.
type Request struct {
	Model          string    `json:"model"`
	Messages       []Message `json:"messages"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format"`
	Auth string `json:"-"`
}

// Message is one turn of a request.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// System is the request's first system message, User its last user message, and
// Prompt its first user message (a repair request ends with another).
func (r Request) System() string { return r.last("system", true) }
func (r Request) User() string   { return r.last("user", false) }
func (r Request) Prompt() string { return r.last("user", true) }

func (r Request) last(role string, first bool) string {
	out := ""
	for _, m := range r.Messages {
		if m.Role == role {
			out = m.Content
			if first {
				return out
			}
		}
	}
	return out
}

// Reply is the server's answer to one request. A Status other than 0 or 200
// answers an OpenAI-style error; else Content is the assistant's message.
type Reply struct {
	Status           int
	RetryAfter       string
	Delay            time.Duration
	Content          string
	PromptTokens     int // default: the request's words
	CompletionTokens int // default: the answer's words
}

// Server is a running stand-in. Handle answers each request; it is called
// from the server's goroutines.
type Server struct {
	*httptest.Server
	Handle func(n int, req Request) Reply

	mu       sync.Mutex
	requests []Request
}

// New starts a stand-in answering with handle (n counts requests from 0). Its
// URL + "/v1" is the base URL to configure.
func New(handle func(n int, req Request) Reply) *Server {
	s := &Server{Handle: handle}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is the API root to give a client.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var req Request
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		writeError(w, http.StatusNotFound, "unknown route "+r.URL.Path)
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model == "" || len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "invalid request body")
		return
	}
	req.Auth = r.Header.Get("Authorization")
	s.mu.Lock()
	n := len(s.requests)
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	rep := s.Handle(n, req)
	if rep.Delay > 0 {
		select {
		case <-time.After(rep.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if rep.RetryAfter != "" {
		w.Header().Set("Retry-After", rep.RetryAfter)
	}
	if rep.Status != 0 && rep.Status != http.StatusOK {
		writeError(w, rep.Status, fmt.Sprintf("scripted failure %d", rep.Status))
		return
	}
	prompt := rep.PromptTokens
	if prompt == 0 {
		for _, m := range req.Messages {
			prompt += len(strings.Fields(m.Content))
		}
	}
	completion := rep.CompletionTokens
	if completion == 0 {
		completion = len(strings.Fields(rep.Content))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": rep.Content}}},
		"usage": map[string]int{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "server_error", "code": nil}})
}
