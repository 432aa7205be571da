package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"memoryd/config"
	"memoryd/memory"
	"memoryd/meter"
	"memoryd/store"
)

// brokenStore fails the memory reads, as a damaged disk would.
type brokenStore struct{ *store.Store }

var errDisk = errors.New("store: read /var/lib/memoryd/memoryd.db: input/output error")

func (brokenStore) GetMemory(string, store.Mode, string) (store.Memory, error) {
	return store.Memory{}, errDisk
}

// panickyStore panics in the list call.
type panickyStore struct{ *store.Store }

func (panickyStore) ListMemories(string, store.Mode, store.Scope, string, int) ([]store.Memory, string, error) {
	panic("index out of range [3] with length 3")
}

func newTestServer(t *testing.T, engineStore func(*store.Store) memory.Store) (*httptest.Server, string) {
	return newTestServerTB(t, engineStore)
}

// newTestServerTB serves the API over loopback on a fresh store whose one org is on the
// enterprise plan with limits above any test's load.
func newTestServerTB(t testing.TB, engineStore func(*store.Store) memory.Store) (*httptest.Server, string) {
	t.Helper()
	ts, key, _ := newConfiguredServer(t, config.Default(), engineStore)
	return ts, key
}

// newConfiguredServer is newTestServerTB with a given config; it also returns the store.
func newConfiguredServer(t testing.TB, cfg config.Config, engineStore func(*store.Store) memory.Store) (*httptest.Server, string, *store.Store) {
	t.Helper()
	srv, key, st := newAPIServer(t, cfg, engineStore, memory.Options{})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, key, st
}

// newAPIServer is the server newConfiguredServer serves, with the engine given opt
// (its logger is always a silent one).
func newAPIServer(t testing.TB, cfg config.Config, engineStore func(*store.Store) memory.Store, opt memory.Options) (*Server, string, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	org, _, key, err := st.CreateOrgWithAdminKey("t", "enterprise")
	if err != nil {
		t.Fatal(err)
	}
	high := 10_000_000
	if _, err := st.UpdateOrg(org.ID, func(o *store.Org) error { o.Limits.RequestsPerMinute = &high; return nil }); err != nil {
		t.Fatal(err)
	}
	opt.Log = log
	srv := New(Deps{Config: cfg, Store: st, Engine: memory.New(engineStore(st), opt),
		Meter: meter.New(cfg, st, log, nil), Log: log})
	return srv, key, st
}

func get(t *testing.T, url, key string) (int, map[string]any) {
	t.Helper()
	r, _ := http.NewRequest("GET", url, nil)
	r.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, env
}

// A store failure is a 500 INTERNAL_ERROR whose message says nothing of internals.
func TestInternalErrorHidesInternals(t *testing.T) {
	ts, key := newTestServer(t, func(s *store.Store) memory.Store { return brokenStore{s} })
	status, env := get(t, ts.URL+"/v1/memories/mem_00000000000000000000000000", key)
	e := env["error"].(map[string]any)
	if status != 500 || e["code"] != "INTERNAL_ERROR" {
		t.Fatalf("got %d %v", status, env)
	}
	raw, _ := json.Marshal(env)
	if strings.Contains(string(raw), "input/output") || strings.Contains(string(raw), "/var/lib") {
		t.Fatalf("internals leaked: %s", raw)
	}
}

// A panicking handler is recovered into a 500 envelope and the server keeps serving.
func TestPanicRecovery(t *testing.T) {
	ts, key := newTestServer(t, func(s *store.Store) memory.Store { return panickyStore{s} })
	status, env := get(t, ts.URL+"/v1/memories", key)
	if status != 500 || env["error"].(map[string]any)["code"] != "INTERNAL_ERROR" {
		t.Fatalf("got %d %v", status, env)
	}
	if strings.Contains(env["error"].(map[string]any)["message"].(string), "index out of range") {
		t.Fatal("panic text leaked")
	}
	status, _ = get(t, ts.URL+"/v1/account", key)
	if status != 200 {
		t.Fatalf("server unusable after a panic: %d", status)
	}
}

// Concurrent retries with one Idempotency-Key run the handler once.
func TestIdempotencyConcurrentRetries(t *testing.T) {
	ts, key := newTestServer(t, func(s *store.Store) memory.Store { return s })
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, _ := http.NewRequest("POST", ts.URL+"/v1/memories", strings.NewReader(`{"text":"same"}`))
			r.Header.Set("Authorization", "Bearer "+key)
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Idempotency-Key", "race-1")
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var env struct {
				Data struct{ ID string } `json:"data"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&env)
			ids[i] = env.Data.ID
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("retries created different memories: %v", ids)
		}
	}
	status, env := get(t, ts.URL+"/v1/memories", key)
	if n := len(env["data"].(map[string]any)["memories"].([]any)); status != 200 || n != 1 {
		t.Fatalf("%d memories after concurrent retries, want 1", n)
	}
}
