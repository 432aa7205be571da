package main

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

// Every memory call, driven through the real binary with a key from the operator API.
func TestMemoriesEndToEnd(t *testing.T) {
	s := startServer(t, "")
	_, key := s.newOrg(t, "acme", "pro")

	// Create, with every field.
	m := s.createMemory(t, key, map[string]any{
		"text": "User prefers dark mode interfaces", "metadata": map[string]any{"category": "preference"},
		"user_id": "u_42", "agent_id": "a_1", "session_id": "s_9",
	})
	if m.Text != "User prefers dark mode interfaces" || m.Version != 1 || m.Metadata["category"] != "preference" ||
		*m.UserID != "u_42" || *m.AgentID != "a_1" || *m.SessionID != "s_9" || m.ExpiresAt != nil {
		t.Fatalf("created memory = %+v", m)
	}
	if len(m.ID) != len("mem_")+26 || m.CreatedAt.IsZero() || !m.CreatedAt.Equal(m.UpdatedAt) {
		t.Fatalf("id or times wrong: %+v", m)
	}

	// Get returns the same memory; memories_accessed counts it.
	var got memoryJSON
	r := s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + m.ID, key: key}, &got)
	if got.ID != m.ID || got.Text != m.Text || *got.UserID != "u_42" {
		t.Fatalf("get = %+v", got)
	}
	if r.Env.Meta["usage"].(map[string]any)["memories_accessed"] != 1.0 {
		t.Fatalf("usage = %v", r.Env.Meta["usage"])
	}

	// A memory without optional fields shows nulls and an empty metadata object.
	bare := s.createMemory(t, key, map[string]any{"text": "Lives in Lisbon"})
	if bare.UserID != nil || bare.AgentID != nil || bare.SessionID != nil || bare.Metadata == nil || len(bare.Metadata) != 0 {
		t.Fatalf("bare memory = %+v", bare)
	}

	// Update replaces the given fields, bumps the version, keeps the rest.
	var upd memoryJSON
	s.ok(t, 200, req{method: "PUT", path: "/v1/memories/" + m.ID, key: key,
		body: map[string]any{"text": "User prefers light mode interfaces"}}, &upd)
	if upd.Version != 2 || upd.Text != "User prefers light mode interfaces" || upd.Metadata["category"] != "preference" || !upd.UpdatedAt.After(upd.CreatedAt) {
		t.Fatalf("updated = %+v", upd)
	}
	s.ok(t, 200, req{method: "PUT", path: "/v1/memories/" + m.ID, key: key,
		body: map[string]any{"metadata": map[string]any{"category": "ui"}}}, &upd)
	if upd.Version != 3 || upd.Text != "User prefers light mode interfaces" || upd.Metadata["category"] != "ui" {
		t.Fatalf("metadata update = %+v", upd)
	}

	// History keeps every text, oldest first.
	var hist struct {
		Events []struct {
			Event        string    `json:"event"`
			Text         string    `json:"text"`
			PreviousText *string   `json:"previous_text"`
			At           time.Time `json:"at"`
			Source       string    `json:"source"`
		} `json:"events"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + m.ID + "/history", key: key}, &hist)
	if len(hist.Events) != 3 || hist.Events[0].Event != "ADD" || hist.Events[0].PreviousText != nil ||
		hist.Events[1].Event != "UPDATE" || *hist.Events[1].PreviousText != "User prefers dark mode interfaces" ||
		hist.Events[1].Text != "User prefers light mode interfaces" || hist.Events[0].Source != "api" {
		t.Fatalf("history = %+v", hist)
	}

	// Pagination: 7 more memories for u_7, pages of 3, newest first, no overlaps.
	var want []string
	for i := 0; i < 7; i++ {
		want = append([]string{s.createMemory(t, key, map[string]any{"text": fmt.Sprintf("fact %d", i), "user_id": "u_7"}).ID}, want...)
	}
	var seen []string
	cursor := ""
	pages := 0
	for {
		path := "/v1/memories?limit=3&user_id=u_7"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Memories   []memoryJSON `json:"memories"`
			NextCursor *string      `json:"next_cursor"`
		}
		s.ok(t, 200, req{method: "GET", path: path, key: key}, &page)
		pages++
		for _, pm := range page.Memories {
			seen = append(seen, pm.ID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if pages != 3 || fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("pages %d, ids %v, want %v", pages, seen, want)
	}
	// Scope filters combine.
	var scoped struct {
		Memories []memoryJSON `json:"memories"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/memories?user_id=u_42&agent_id=a_1&session_id=s_9", key: key}, &scoped)
	if len(scoped.Memories) != 1 || scoped.Memories[0].ID != m.ID {
		t.Fatalf("scoped list = %+v", scoped)
	}
	if n := s.countMemories(t, key); n != 9 {
		t.Fatalf("total = %d, want 9", n)
	}

	// Delete one; its history ends with DELETE; it is gone from reads.
	var del struct {
		ID      string `json:"id"`
		Deleted bool   `json:"deleted"`
	}
	s.ok(t, 200, req{method: "DELETE", path: "/v1/memories/" + bare.ID, key: key}, &del)
	if del.ID != bare.ID || !del.Deleted {
		t.Fatalf("delete = %+v", del)
	}
	s.fails(t, 404, "MEMORY_NOT_FOUND", req{method: "GET", path: "/v1/memories/" + bare.ID, key: key})
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + bare.ID + "/history", key: key}, &hist)
	if len(hist.Events) != 2 || hist.Events[1].Event != "DELETE" {
		t.Fatalf("history after delete = %+v", hist)
	}

	// Bulk delete, narrowed to a user.
	var bulk struct {
		Deleted int `json:"deleted"`
	}
	s.ok(t, 200, req{method: "DELETE", path: "/v1/memories?confirm=true&user_id=u_7", key: key}, &bulk)
	if bulk.Deleted != 7 {
		t.Fatalf("bulk deleted %d, want 7", bulk.Deleted)
	}
	if n := s.countMemories(t, key); n != 1 {
		t.Fatalf("after bulk delete %d remain, want 1", n)
	}

	// Batch create: all in one call.
	var batch struct {
		Memories []memoryJSON `json:"memories"`
	}
	s.ok(t, 201, req{method: "POST", path: "/v1/batch/memories", key: key, body: map[string]any{"memories": []any{
		map[string]any{"text": "batch one", "user_id": "u_b"}, map[string]any{"text": "batch two", "user_id": "u_b"},
	}}}, &batch)
	if len(batch.Memories) != 2 || batch.Memories[1].Text != "batch two" {
		t.Fatalf("batch = %+v", batch)
	}
	s.ok(t, 200, req{method: "DELETE", path: "/v1/memories?confirm=true", key: key}, &bulk)
	if bulk.Deleted != 3 || s.countMemories(t, key) != 0 {
		t.Fatalf("delete all removed %d", bulk.Deleted)
	}
}

// An expired memory is gone from every read, and cannot be updated or deleted.
func TestMemoryExpiry(t *testing.T) {
	s := startServer(t, "")
	_, key := s.newOrg(t, "expiring", "pro")
	expires := time.Now().Add(1500 * time.Millisecond).UTC()
	m := s.createMemory(t, key, map[string]any{"text": "Temporary note", "user_id": "u1", "expires_at": expires.Format(time.RFC3339Nano)})
	if m.ExpiresAt == nil || !m.ExpiresAt.Equal(expires) {
		t.Fatalf("expires_at = %v, want %v", m.ExpiresAt, expires)
	}
	keep := s.createMemory(t, key, map[string]any{"text": "Permanent note", "user_id": "u1"})
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + m.ID, key: key}, nil)

	// Clearing an expiry with null keeps the memory.
	later := s.createMemory(t, key, map[string]any{"text": "Was temporary", "expires_at": time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)})
	var cleared memoryJSON
	s.ok(t, 200, req{method: "PUT", path: "/v1/memories/" + later.ID, key: key, body: `{"expires_at": null}`}, &cleared)
	if cleared.ExpiresAt != nil {
		t.Fatalf("expiry not cleared: %+v", cleared)
	}

	time.Sleep(time.Until(expires) + 200*time.Millisecond)
	for _, q := range []req{
		{method: "GET", path: "/v1/memories/" + m.ID},
		{method: "GET", path: "/v1/memories/" + m.ID + "/history"},
		{method: "PUT", path: "/v1/memories/" + m.ID, body: map[string]any{"text": "revived"}},
		{method: "DELETE", path: "/v1/memories/" + m.ID},
	} {
		q.key = key
		s.fails(t, 404, "MEMORY_NOT_FOUND", q)
	}
	var list struct {
		Memories []memoryJSON `json:"memories"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/memories?user_id=u1", key: key}, &list)
	if len(list.Memories) != 1 || list.Memories[0].ID != keep.ID {
		t.Fatalf("list after expiry = %+v", list.Memories)
	}
	if n := s.countMemories(t, key); n != 2 {
		t.Fatalf("count after expiry = %d, want 2", n)
	}
	var bulk struct {
		Deleted int `json:"deleted"`
	}
	s.ok(t, 200, req{method: "DELETE", path: "/v1/memories?confirm=true&user_id=u1", key: key}, &bulk)
	if bulk.Deleted != 1 {
		t.Fatalf("bulk delete counted the expired memory: %d", bulk.Deleted)
	}
}

// A POST repeated with the same Idempotency-Key replays its first answer; with another
// body it is refused; nothing is created twice.
func TestIdempotencyReplay(t *testing.T) {
	s := startServer(t, "")
	_, key := s.newOrg(t, "idem", "pro")
	q := req{method: "POST", path: "/v1/memories", key: key, body: map[string]any{"text": "once only"},
		header: map[string]string{"Idempotency-Key": "create-1"}}
	var first, second memoryJSON
	r1 := s.ok(t, 201, q, &first)
	r2 := s.ok(t, 201, q, &second)
	if first.ID != second.ID || string(r1.Env.Data) != string(r2.Env.Data) {
		t.Fatalf("replay differs:\n%s\n%s", r1.Raw, r2.Raw)
	}
	if r1.Header.Get("Idempotent-Replayed") != "" || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("Idempotent-Replayed headers: %q, %q", r1.Header.Get("Idempotent-Replayed"), r2.Header.Get("Idempotent-Replayed"))
	}
	q.body = map[string]any{"text": "something else"}
	d := s.fails(t, 409, "IDEMPOTENCY_CONFLICT", q)
	if d["idempotency_key"] != "create-1" {
		t.Fatalf("details = %v", d)
	}
	if n := s.countMemories(t, key); n != 1 {
		t.Fatalf("%d memories after replays, want 1", n)
	}
	// The same key in another org is a different key.
	_, other := s.newOrg(t, "idem-2", "pro")
	q.key, q.body = other, map[string]any{"text": "once only"}
	var third memoryJSON
	s.ok(t, 201, q, &third)
	if third.ID == first.ID {
		t.Fatal("idempotency keys leak across orgs")
	}
}
