package api

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"memoryd/config"
	"memoryd/memory"
	"memoryd/store"
)

// A retrieval whose client has gone before a search worker took it is answered 503
// SERVICE_UNAVAILABLE (retryable, not billed), not logged as a server failure; the
// same request with its client still there is served.
func TestAbandonedRetrievalIsNotAFailure(t *testing.T) {
	srv, key, _ := newAPIServer(t, config.Default(), func(s *store.Store) memory.Store { return s }, memory.Options{SearchWorkers: 1})
	h := srv.Handler()
	ask := func(ctx context.Context) (int, map[string]any) {
		r := httptest.NewRequest("POST", "/v1/retrieve", strings.NewReader(`{"context":"green tea"}`)).WithContext(ctx)
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var env map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		return w.Code, env
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	status, env := ask(gone)
	e, _ := env["error"].(map[string]any)
	if status != 503 || e["code"] != "SERVICE_UNAVAILABLE" || e["details"].(map[string]any)["retryable"] != true {
		t.Fatalf("abandoned: %d %v", status, env)
	}
	if status, env := ask(context.Background()); status != 200 || env["success"] != true {
		t.Fatalf("served: %d %v", status, env)
	}
}
