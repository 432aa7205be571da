package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Memories are written from several goroutines; the server is killed with SIGKILL
// mid-stream; after a restart every memory whose create was answered 201 is there.
func TestDurabilityUnderSIGKILL(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	_, key := s.newOrg(t, "durable", "enterprise")

	const writers = 8
	var (
		mu       sync.Mutex
		acked    = map[string]string{} // id → text
		attempts atomic.Int64
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("writer %d fact %d", w, i)
				raw, _ := json.Marshal(map[string]any{"text": text, "user_id": fmt.Sprintf("u%d", w)})
				hr, _ := http.NewRequest("POST", s.base+"/v1/memories", bytes.NewReader(raw))
				hr.Header.Set("Authorization", "Bearer "+key)
				hr.Header.Set("Content-Type", "application/json")
				attempts.Add(1)
				resp, err := client.Do(hr)
				if err != nil {
					return // the server is gone
				}
				var env struct {
					Data memoryJSON `json:"data"`
				}
				err = json.NewDecoder(resp.Body).Decode(&env)
				resp.Body.Close()
				if err == nil && resp.StatusCode == http.StatusCreated {
					mu.Lock()
					acked[env.Data.ID] = text
					mu.Unlock()
				}
			}
		}(w)
	}
	// Let writes flow, then kill the process while they are still in flight.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.kill()
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 300 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}
	t.Logf("%d creates attempted, %d acknowledged before SIGKILL", attempts.Load(), len(acked))

	s = startServer(t, data)
	for id, text := range acked {
		var m memoryJSON
		s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + id, key: key}, &m)
		if m.Text != text {
			t.Fatalf("memory %s has text %q, want %q", id, m.Text, text)
		}
	}
	if n := s.countMemories(t, key); n < len(acked) {
		t.Fatalf("list shows %d memories, fewer than the %d acknowledged", n, len(acked))
	}
}

// SIGTERM drains and exits 0; the data is intact on the next start.
func TestGracefulShutdown(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	_, key := s.newOrg(t, "graceful", "pro")
	m := s.createMemory(t, key, map[string]any{"text": "kept across a clean stop"})
	s.stop()
	s = startServer(t, data)
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + m.ID, key: key}, nil)
}
