package main

import (
	"encoding/json"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeEmbeddings speaks the OpenAI /v1/embeddings wire format: a vector per input,
// derived from its words, so related texts land near each other.
func fakeEmbeddings(t *testing.T, dims int, calls *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Input []string `json:"input"`
			Model string   `json:"model"`
		}
		if r.URL.Path != "/v1/embeddings" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, `{"error":{"message":"bad request"}}`, 400)
			return
		}
		data := make([]map[string]any, len(req.Input))
		tokens := 0
		for i, text := range req.Input {
			v := make([]float32, dims)
			for _, word := range strings.Fields(strings.ToLower(text)) {
				h := fnv.New32a()
				h.Write([]byte(strings.Trim(word, ".,!?")))
				v[h.Sum32()%uint32(dims)]++
				tokens++
			}
			data[i] = map[string]any{"object": "embedding", "index": i, "embedding": v}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model,
			"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A changed embedding model is detected at start; memories stay findable by keywords,
// and POST /v1/batch/embeddings re-embeds them in a job that reports its progress.
func TestModelChangeAndReembedding(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	_, key := s.newOrg(t, "reembed", "pro")
	var mems []memoryJSON
	for _, text := range []string{"Prefers window seats on long flights", "Is learning to play the cello", "Keeps a sourdough starter called Bubbles"} {
		mems = append(mems, s.createMemory(t, key, map[string]any{"text": text}))
	}
	s.stop()

	var calls atomic.Int64
	fake := fakeEmbeddings(t, 64, &calls)
	s = startServer(t, data, "MEMORYD_EMBEDDER_PROVIDER=openai", "MEMORYD_EMBEDDER_BASE_URL="+fake.URL+"/v1",
		"MEMORYD_EMBEDDER_MODEL=fake-embed-1", "MEMORYD_EMBEDDER_DIMENSIONS=64", "MEMORYD_EMBEDDER_API_KEY=sk-test")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), "embedded by another model") {
		if time.Now().After(deadline) {
			t.Fatalf("model change not reported; stderr:\n%s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Keyword search still finds them before re-embedding.
	if !ids(s.retrieve(t, key, map[string]any{"context": "cello"}))[mems[1].ID] {
		t.Fatal("memory not found by keywords after the model change")
	}

	s.fails(t, 404, "MEMORY_NOT_FOUND", req{method: "POST", path: "/v1/batch/embeddings", key: key,
		body: map[string]any{"memory_ids": []string{"mem_00000000000000000000000000"}}})
	var accepted struct {
		Job struct {
			ID     string `json:"id"`
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"job"`
	}
	s.ok(t, 202, req{method: "POST", path: "/v1/batch/embeddings", key: key}, &accepted)
	if accepted.Job.Type != "embeddings" || accepted.Job.Status != "queued" {
		t.Fatalf("job = %+v", accepted.Job)
	}
	var job struct {
		Status   string `json:"status"`
		Progress struct{ Total, Done, Failed int }
		Result   map[string]any `json:"result"`
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.ok(t, 200, req{method: "GET", path: "/v1/batch/" + accepted.Job.ID, key: key}, &job)
		if job.Status == "succeeded" || job.Status == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if job.Status != "succeeded" || job.Progress.Total != 3 || job.Progress.Done != 3 || job.Result["memories_embedded"] != 3.0 {
		t.Fatalf("job = %+v", job)
	}
	if calls.Load() == 0 {
		t.Fatal("the OpenAI-compatible endpoint was never called")
	}
	// Now found through the new model's vectors too, and the embeddings are metered.
	if !ids(s.retrieve(t, key, map[string]any{"context": "sourdough starter"}))[mems[2].ID] {
		t.Fatal("memory not found after re-embedding")
	}
	var u usageJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/usage", key: key}, &u)
	if u.Usage["embeddings"] < 3+3+2 { // 3 creates, 3 re-embedded, 2 queries
		t.Fatalf("embeddings metered: %v", u.Usage)
	}
	if u.Usage["tokens_input"] == 0 {
		t.Fatalf("the provider's tokens were not metered: %v", u.Usage)
	}
	s.fails(t, 404, "JOB_NOT_FOUND", req{method: "GET", path: "/v1/batch/job_00000000000000000000000000", key: key})
	_, other := s.newOrg(t, "other", "pro")
	s.fails(t, 404, "JOB_NOT_FOUND", req{method: "GET", path: "/v1/batch/" + accepted.Job.ID, key: other})
}
