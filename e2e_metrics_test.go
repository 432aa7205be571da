package main

import (
	"strings"
	"testing"
)

// /metrics serves Prometheus series fed by real traffic; with require_admin_token it
// wants the operator's token.
func TestMetrics(t *testing.T) {
	s := startServer(t, "")
	_, key := s.newOrg(t, "metrics", "pro")
	s.createMemory(t, key, map[string]any{"text": "counted once"})
	s.retrieve(t, key, map[string]any{"context": "counted"})
	r := s.do(t, req{method: "GET", path: "/metrics"})
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	body := string(r.Raw)
	for _, want := range []string{
		`memoryd_http_requests_total{code="201",route="POST /v1/memories"} 1`,
		`memoryd_http_requests_total{code="200",route="POST /v1/retrieve"} 1`,
		`memoryd_http_request_duration_seconds_bucket{route="POST /v1/memories"`,
		"memoryd_index_memories 1", "memoryd_index_vectors 1", "memoryd_jobs_queued 0",
		"memoryd_bbolt_file_bytes", "memoryd_usage_events_pending", "go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, key) || strings.Contains(body, "counted once") {
		t.Fatal("/metrics leaks a key or memory text")
	}

	locked := startServer(t, "", "MEMORYD_METRICS_REQUIRE_ADMIN_TOKEN=true")
	locked.fails(t, 401, "INVALID_API_KEY", req{method: "GET", path: "/metrics"})
	if r := locked.do(t, req{method: "GET", path: "/metrics", key: testAdminToken}); r.Status != 200 {
		t.Fatalf("/metrics with the admin token: %d", r.Status)
	}
}
