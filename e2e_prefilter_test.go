package main

import (
	"fmt"
	"sync/atomic"
	"testing"

	"memoryd/llm/chattest"
	"memoryd/memory/scriptedmodel"
)

// The operator's analytics report the prompt tokens the prefilter kept away from the
// models: per model request, (memories in the query's scope − memories sent) × the
// mean bytes of the sent texts ÷ 4. Every memory of u1 is 44 bytes, so a memory the
// model did not get counts 11 tokens. Re-ranking gets the top 50 of u1's 60 (its first
// answer is invalid, so it is asked twice), the answer model the memories retrieved;
// memories of another user are outside the scope; /v1/retrieve and a query whose scope
// is empty call no model and save nothing; test-mode traffic is not in the analytics.
func TestPrefilterTokensSavedE2E(t *testing.T) {
	var invalidOnce atomic.Bool
	script := &scriptedmodel.Script{Override: func(_ int, req chattest.Request) (chattest.Reply, bool) {
		if req.Model == scriptedmodel.Rerank && invalidOnce.CompareAndSwap(false, true) {
			return chattest.Reply{Content: `{"scores": "high"}`}, true
		}
		return chattest.Reply{}, false
	}}
	srv := scriptedmodel.Start(script)
	defer srv.Close()
	s := startServer(t, "", scriptedLLMEnv(srv)...)
	_, key := s.newOrg(t, "prefilter", "pro")
	testKey := s.newKey(t, key, "test", "read", "write")

	const inScope, textBytes = 60, 44
	var mems []any
	for i := range inScope {
		text := fmt.Sprintf("User planted %02d tulip bulbs in garden bed %02d", i, (i*7)%100)
		if len(text) != textBytes {
			t.Fatalf("%q is %d bytes", text, len(text))
		}
		mems = append(mems, map[string]any{"text": text, "user_id": "u1"})
	}
	for i := range 25 {
		mems = append(mems, map[string]any{"text": fmt.Sprintf("User planted tulip bulbs again, a much longer memory of another user, number %d", i), "user_id": "u2"})
	}
	s.ok(t, 201, req{method: "POST", path: "/v1/batch/memories", key: key, body: map[string]any{"memories": mems}}, nil)
	s.ok(t, 201, req{method: "POST", path: "/v1/batch/memories", key: testKey.Key, body: map[string]any{"memories": mems}}, nil)

	s.ok(t, 200, req{method: "POST", path: "/v1/query", key: key, body: map[string]any{"context": "tulip bulbs in garden bed 07", "user_id": "u1", "max_memories": 3}}, nil)
	var ans struct {
		Grounded bool `json:"grounded"`
	}
	s.ok(t, 200, req{method: "POST", path: "/v1/query/answer", key: key, body: map[string]any{"context": "How many tulip bulbs are in garden bed 07?", "user_id": "u1"}}, &ans)
	reqs := srv.Requests()
	if len(reqs) != 3 || reqs[0].Model != scriptedmodel.Rerank || reqs[1].Model != scriptedmodel.Rerank || reqs[2].Model != scriptedmodel.Answer || !ans.Grounded {
		t.Fatalf("model requests %d, grounded %v", len(reqs), ans.Grounded)
	}
	// What the models were given: 50 memories to re-rank, the retrieved ones to answer from.
	reranked, answered := scriptedmodel.Numbered(reqs[1].Prompt()), scriptedmodel.Numbered(reqs[2].System())
	if len(reranked) != 50 || len(answered) == 0 || len(answered) > 10 {
		t.Fatalf("re-ranking got %d memories, the answer %d", len(reranked), len(answered))
	}
	for _, text := range append(reranked, answered...) {
		if len(text) != textBytes {
			t.Fatalf("a model got %q, not a memory of u1", text)
		}
	}
	// By hand: 2 re-ranking requests × (60 − 50) × 11 + (60 − answered) × 11.
	want := 2*(inScope-50)*textBytes/4 + (inScope-len(answered))*textBytes/4

	// Nothing more: no model call, or test mode.
	s.ok(t, 200, req{method: "POST", path: "/v1/retrieve", key: key, body: map[string]any{"context": "tulip bulbs", "user_id": "u1"}}, nil)
	s.ok(t, 200, req{method: "POST", path: "/v1/query/answer", key: key, body: map[string]any{"context": "tulip bulbs", "user_id": "nobody"}}, nil)
	s.ok(t, 200, req{method: "POST", path: "/v1/query", key: testKey.Key, body: map[string]any{"context": "tulip bulbs", "user_id": "u1"}}, nil)
	if n := len(srv.Requests()); n != 4 {
		t.Fatalf("%d model requests, want 4 (the last one in test mode)", n)
	}

	var an struct {
		Models struct {
			ModelCalls           int64 `json:"model_calls"`
			PrefilterTokensSaved int64 `json:"prefilter_tokens_saved"`
		} `json:"models"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/admin/analytics", key: testAdminToken}, &an)
	t.Logf("re-ranking offered 50 of %d twice, the answer model got %d: %d tokens saved (analytics: %d, %d model calls)",
		inScope, len(answered), want, an.Models.PrefilterTokensSaved, an.Models.ModelCalls)
	if an.Models.PrefilterTokensSaved != int64(want) || an.Models.ModelCalls != 3 {
		t.Fatalf("analytics: %+v, want %d tokens saved in 3 model calls", an.Models, want)
	}
}
