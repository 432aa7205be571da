package main

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type hitJSON struct {
	memoryJSON
	Relevance float64 `json:"relevance"`
}

func (s *server) retrieve(t *testing.T, key string, body map[string]any) []hitJSON {
	t.Helper()
	var out struct {
		Memories []hitJSON `json:"memories"`
	}
	s.ok(t, 200, req{method: "POST", path: "/v1/retrieve", key: key, body: body}, &out)
	for i, h := range out.Memories {
		if h.Relevance < 0 || h.Relevance > 1 || (i > 0 && h.Relevance > out.Memories[i-1].Relevance) {
			t.Fatalf("relevance out of range or order: %+v", out.Memories)
		}
	}
	return out.Memories
}

func ids(hits []hitJSON) map[string]bool {
	m := map[string]bool{}
	for _, h := range hits {
		m[h.ID] = true
	}
	return m
}

// Retrieval through the real binary: ranking, scoping, filters, deletes, expiry,
// updates and the threshold.
func TestRetrieve(t *testing.T) {
	s := startServer(t, "")
	_, key := s.newOrg(t, "retrieval", "pro")
	mk := func(text, user string, md map[string]any) memoryJSON {
		body := map[string]any{"text": text, "user_id": user}
		if md != nil {
			body["metadata"] = md
		}
		return s.createMemory(t, key, body)
	}
	dark := mk("User prefers dark mode interfaces in every editor", "alice", map[string]any{"category": "preference", "rank": 1})
	job := mk("Alice works as a marine biologist studying coral reefs", "alice", map[string]any{"category": "work"})
	pet := mk("Alice has a golden retriever named Biscuit", "alice", map[string]any{"category": "family"})
	bobJob := mk("Bob works as a marine biologist too, on kelp forests", "bob", map[string]any{"category": "work"})
	for i := 0; i < 20; i++ {
		mk(fmt.Sprintf("Alice mentioned an unrelated detail number %d about the weather", i), "alice", nil)
	}

	hits := s.retrieve(t, key, map[string]any{"context": "What does Alice do for work?", "user_id": "alice", "max_memories": 3})
	if len(hits) != 3 || hits[0].ID != job.ID {
		t.Fatalf("top hit for work: %+v", hits)
	}
	if hits[0].Relevance <= hits[len(hits)-1].Relevance {
		t.Fatalf("relevance does not fall: %+v", hits)
	}

	// Scoping: Alice's query never returns Bob's memory, however close it is.
	for _, q := range []string{"marine biologist kelp forests", "Bob works as a marine biologist"} {
		for _, h := range s.retrieve(t, key, map[string]any{"context": q, "user_id": "alice", "max_memories": 100}) {
			if h.UserID == nil || *h.UserID != "alice" {
				t.Fatalf("scoped query leaked %+v", h)
			}
		}
	}
	if got := ids(s.retrieve(t, key, map[string]any{"context": "kelp forests", "user_id": "bob"})); !got[bobJob.ID] || len(got) != 1 {
		t.Fatalf("bob's scope: %v", got)
	}
	// Metadata equality and "in", and creation time.
	got := ids(s.retrieve(t, key, map[string]any{"context": "Alice", "max_memories": 100,
		"filters": map[string]any{"metadata": map[string]any{"category": "work"}}}))
	if len(got) != 2 || !got[job.ID] || !got[bobJob.ID] {
		t.Fatalf("metadata equality: %v", got)
	}
	got = ids(s.retrieve(t, key, map[string]any{"context": "Alice", "max_memories": 100,
		"filters": map[string]any{"metadata": map[string]any{"category": map[string]any{"in": []string{"family", "preference"}}}}}))
	if len(got) != 2 || !got[pet.ID] || !got[dark.ID] {
		t.Fatalf("metadata in: %v", got)
	}
	got = ids(s.retrieve(t, key, map[string]any{"context": "dark mode", "max_memories": 100,
		"filters": map[string]any{"metadata": map[string]any{"rank": 1}}}))
	if len(got) != 1 || !got[dark.ID] {
		t.Fatalf("numeric metadata: %v", got)
	}
	got = ids(s.retrieve(t, key, map[string]any{"context": "marine biologist", "max_memories": 100,
		"filters": map[string]any{"created_after": bobJob.CreatedAt.Add(-time.Nanosecond).Format(time.RFC3339Nano),
			"created_before": bobJob.CreatedAt.Add(time.Nanosecond).Format(time.RFC3339Nano)}}))
	if len(got) != 1 || !got[bobJob.ID] {
		t.Fatalf("created range: %v", got)
	}

	// An updated memory is found by its new text, not its old one.
	s.ok(t, 200, req{method: "PUT", path: "/v1/memories/" + pet.ID, key: key,
		body: map[string]any{"text": "Alice adopted a grey tabby cat called Miso"}}, nil)
	if h := s.retrieve(t, key, map[string]any{"context": "tabby cat Miso", "user_id": "alice", "max_memories": 1}); len(h) != 1 || h[0].ID != pet.ID || h[0].Text != "Alice adopted a grey tabby cat called Miso" {
		t.Fatalf("new text not found: %+v", h)
	}
	for _, h := range s.retrieve(t, key, map[string]any{"context": "golden retriever Biscuit", "user_id": "alice", "max_memories": 3}) {
		if h.ID == pet.ID && h.Relevance > 0.5 {
			t.Fatalf("old text still matches strongly: %+v", h)
		}
	}

	// Deleted memories never come back.
	s.ok(t, 200, req{method: "DELETE", path: "/v1/memories/" + dark.ID, key: key}, nil)
	for i := 0; i < 2; i++ { // the second time from the response cache, if any
		if ids(s.retrieve(t, key, map[string]any{"context": "dark mode interfaces editor", "max_memories": 100}))[dark.ID] {
			t.Fatal("a deleted memory came back")
		}
	}

	// The threshold drops everything below it; 0 keeps all.
	all := s.retrieve(t, key, map[string]any{"context": "marine biologist coral reefs", "user_id": "alice", "max_memories": 100})
	cut := all[0].Relevance - 0.0001
	above := s.retrieve(t, key, map[string]any{"context": "marine biologist coral reefs", "user_id": "alice", "max_memories": 100, "relevance_threshold": cut})
	if len(above) == 0 || len(above) >= len(all) {
		t.Fatalf("threshold %.4f kept %d of %d", cut, len(above), len(all))
	}
	for _, h := range above {
		if h.Relevance < cut {
			t.Fatalf("hit below the threshold: %+v", h)
		}
	}
	if h := s.retrieve(t, key, map[string]any{"context": "marine biologist", "relevance_threshold": 1}); len(h) > 1 {
		t.Fatalf("threshold 1 kept %d", len(h))
	}

	// /v1/query answers like retrieve without a model and says so.
	var q struct {
		Memories []hitJSON `json:"memories"`
	}
	r := s.ok(t, 200, req{method: "POST", path: "/v1/query", key: key, body: map[string]any{"context": "What does Alice do for work?", "user_id": "alice", "max_memories": 1}}, &q)
	if len(q.Memories) != 1 || q.Memories[0].ID != job.ID || r.Env.Meta["usage"].(map[string]any)["model_calls"] != 0.0 {
		t.Fatalf("query: %s", r.Raw)
	}
	s.fails(t, 501, "LLM_NOT_CONFIGURED", req{method: "POST", path: "/v1/query/answer", key: key, body: map[string]any{"context": "What does Alice do?"}})

	// Validation.
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{}, "context"},
		{map[string]any{"context": ""}, "context"},
		{map[string]any{"context": "x", "max_memories": 0}, "max_memories"},
		{map[string]any{"context": "x", "max_memories": 101}, "max_memories"},
		{map[string]any{"context": "x", "relevance_threshold": 1.5}, "relevance_threshold"},
		{map[string]any{"context": "x", "filters": map[string]any{"metadata": map[string]any{"k": []int{1}}}}, "filters.metadata.k"},
		{map[string]any{"context": "x", "filters": map[string]any{"metadata": map[string]any{"k": map[string]any{"in": []int{}}}}}, "filters.metadata.k"},
		{map[string]any{"context": "x", "filters": map[string]any{"color": 1}}, "filters.color"},
	} {
		d := s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/retrieve", key: key, body: c.body})
		if d["field"] != c.field {
			t.Fatalf("body %v: field %v, want %s", c.body, d["field"], c.field)
		}
	}
}

// Expired memories never come back from retrieval.
func TestRetrieveExpiry(t *testing.T) {
	s := startServer(t, "")
	_, key := s.newOrg(t, "retrieval-expiry", "pro")
	at := time.Now().Add(1200 * time.Millisecond).UTC()
	m := s.createMemory(t, key, map[string]any{"text": "The door code is 4417 until tonight", "expires_at": at.Format(time.RFC3339Nano)})
	if !ids(s.retrieve(t, key, map[string]any{"context": "door code"}))[m.ID] {
		t.Fatal("memory not found before its expiry")
	}
	time.Sleep(time.Until(at) + 100*time.Millisecond)
	if ids(s.retrieve(t, key, map[string]any{"context": "door code"}))[m.ID] {
		t.Fatal("an expired memory came back")
	}
}

// A memory written, then queried by another goroutine at once, is found: no stale
// index or cache.
func TestWriteThenQueryAtOnce(t *testing.T) {
	s := startServer(t, "")
	_, key := s.newOrg(t, "fresh", "enterprise")
	// Warm the cache with the query first.
	s.retrieve(t, key, map[string]any{"context": "favourite colour", "user_id": "u"})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			text := fmt.Sprintf("Favourite colour number %d is teal", i)
			m := s.createMemory(t, key, map[string]any{"text": text, "user_id": "u"})
			found := make(chan bool)
			go func() { // another goroutine asks right after the write was answered
				found <- ids(s.retrieve(t, key, map[string]any{"context": text, "user_id": "u", "max_memories": 5}))[m.ID]
			}()
			if !<-found {
				t.Errorf("memory %d not found right after its create", i)
			}
		}(i)
	}
	wg.Wait()
}

// Retrieval meters what it did: memories read and the query's embedding.
func TestRetrieveUsage(t *testing.T) {
	s := startServer(t, "")
	_, key := s.newOrg(t, "metered", "pro")
	for i := 0; i < 3; i++ {
		s.createMemory(t, key, map[string]any{"text": fmt.Sprintf("note %d about hiking", i)})
	}
	r := s.ok(t, 200, req{method: "POST", path: "/v1/retrieve", key: key, body: map[string]any{"context": "hiking", "max_memories": 2}}, nil)
	if r.Env.Meta["usage"].(map[string]any)["memories_accessed"] != 2.0 {
		t.Fatalf("meta.usage = %v", r.Env.Meta["usage"])
	}
	var u usageJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/usage", key: key}, &u)
	if u.Usage["embeddings"] != 4 || u.Usage["memories_read"] != 2 || u.Usage["memories_written"] != 3 {
		t.Fatalf("usage = %v", u.Usage)
	}
}
