package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Every row of the contract's error table that the core calls can produce, with its
// status, code and details; and none of them changes anything.
func TestErrorTable(t *testing.T) {
	s := startServer(t, "")
	_, admin := s.newOrg(t, "errors", "pro")
	reader := s.newKey(t, admin, "live", "read")
	writer := s.newKey(t, admin, "live", "write")
	m := s.createMemory(t, admin, map[string]any{"text": "stable fact", "user_id": "u1"})

	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	batch1001 := make([]map[string]any, 1001)
	for i := range batch1001 {
		batch1001[i] = map[string]any{"text": "x"}
	}
	post := func(path string, body any) req { return req{method: "POST", path: path, key: admin, body: body} }

	cases := []struct {
		name    string
		q       req
		status  int
		code    string
		details map[string]any // expected entries of error.details
	}{
		// INVALID_REQUEST, with details.field naming the JSON path.
		{"unknown field", post("/v1/memories", map[string]any{"text": "x", "colour": "red"}), 400, "INVALID_REQUEST", map[string]any{"field": "colour"}},
		{"unknown nested field", post("/v1/batch/memories", map[string]any{"memories": []any{map[string]any{"text": "ok"}, map[string]any{"text": "x", "colour": 1}}}), 400, "INVALID_REQUEST", map[string]any{"field": "memories[1].colour"}},
		{"invalid batch item", post("/v1/batch/memories", map[string]any{"memories": []any{map[string]any{"text": "ok"}, map[string]any{"text": "x"}, map[string]any{"text": "y", "metadata": []int{1}}}}), 400, "INVALID_REQUEST", map[string]any{"field": "memories[2].metadata"}},
		{"wrong type", post("/v1/memories", map[string]any{"text": 5}), 400, "INVALID_REQUEST", map[string]any{"field": "text"}},
		{"missing text", post("/v1/memories", map[string]any{"user_id": "u"}), 400, "INVALID_REQUEST", map[string]any{"field": "text"}},
		{"blank text", post("/v1/memories", map[string]any{"text": "   "}), 400, "INVALID_REQUEST", map[string]any{"field": "text"}},
		{"text too long", post("/v1/memories", map[string]any{"text": strings.Repeat("a", 32769)}), 400, "INVALID_REQUEST", map[string]any{"field": "text"}},
		{"metadata not an object", post("/v1/memories", map[string]any{"text": "x", "metadata": "a"}), 400, "INVALID_REQUEST", map[string]any{"field": "metadata"}},
		{"metadata too big", post("/v1/memories", map[string]any{"text": "x", "metadata": map[string]any{"k": strings.Repeat("v", 16<<10)}}), 400, "INVALID_REQUEST", map[string]any{"field": "metadata"}},
		{"metadata too deep", post("/v1/memories", `{"text":"x","metadata":`+deep+`}`), 400, "INVALID_REQUEST", nil},
		{"user_id too long", post("/v1/memories", map[string]any{"text": "x", "user_id": strings.Repeat("u", 129)}), 400, "INVALID_REQUEST", map[string]any{"field": "user_id"}},
		{"expires_at in the past", post("/v1/memories", map[string]any{"text": "x", "expires_at": past}), 400, "INVALID_REQUEST", map[string]any{"field": "expires_at"}},
		{"expires_at malformed", post("/v1/memories", map[string]any{"text": "x", "expires_at": "tomorrow"}), 400, "INVALID_REQUEST", map[string]any{"field": "expires_at"}},
		{"not JSON", post("/v1/memories", `{"text": "x"`), 400, "INVALID_REQUEST", nil},
		{"trailing data", post("/v1/memories", `{"text": "x"} {}`), 400, "INVALID_REQUEST", nil},
		{"invalid UTF-8", post("/v1/memories", []byte("{\"text\": \"\xff\xfe\"}")), 400, "INVALID_REQUEST", nil},
		{"empty batch", post("/v1/batch/memories", map[string]any{"memories": []any{}}), 400, "INVALID_REQUEST", map[string]any{"field": "memories"}},
		{"batch over 1000", post("/v1/batch/memories", map[string]any{"memories": batch1001}), 400, "INVALID_REQUEST", map[string]any{"field": "memories"}},
		{"empty update", req{method: "PUT", path: "/v1/memories/" + m.ID, key: admin, body: map[string]any{}}, 400, "INVALID_REQUEST", nil},
		{"update unknown field", req{method: "PUT", path: "/v1/memories/" + m.ID, key: admin, body: map[string]any{"user_id": "u2"}}, 400, "INVALID_REQUEST", map[string]any{"field": "user_id"}},
		{"limit 0", req{method: "GET", path: "/v1/memories?limit=0", key: admin}, 400, "INVALID_REQUEST", map[string]any{"field": "limit"}},
		{"limit 101", req{method: "GET", path: "/v1/memories?limit=101", key: admin}, 400, "INVALID_REQUEST", map[string]any{"field": "limit"}},
		{"bad cursor", req{method: "GET", path: "/v1/memories?cursor=not-ours", key: admin}, 400, "INVALID_REQUEST", map[string]any{"field": "cursor"}},
		{"key in URL", req{method: "GET", path: "/v1/memories?api_key=" + admin}, 400, "INVALID_REQUEST", map[string]any{"field": "api_key"}},
		{"bad scope name", post("/v1/account/api-keys", map[string]any{"name": "k", "scopes": []string{"read", "root"}}), 400, "INVALID_REQUEST", map[string]any{"field": "scopes[1]"}},
		{"no scopes", post("/v1/account/api-keys", map[string]any{"name": "k", "scopes": []string{}}), 400, "INVALID_REQUEST", map[string]any{"field": "scopes"}},
		{"bad mode", post("/v1/account/api-keys", map[string]any{"name": "k", "scopes": []string{"read"}, "mode": "prod"}), 400, "INVALID_REQUEST", map[string]any{"field": "mode"}},
		{"grace too long", post("/v1/account/api-keys/"+reader.ID+"/rotate", map[string]any{"grace_period_seconds": 604801}), 400, "INVALID_REQUEST", map[string]any{"field": "grace_period_seconds"}},
		{"bad plan", req{method: "POST", path: "/v1/admin/orgs", key: testAdminToken, body: map[string]any{"name": "x", "plan": "gold"}}, 400, "INVALID_REQUEST", map[string]any{"field": "plan"}},

		// CONFIRMATION_REQUIRED
		{"bulk delete unconfirmed", req{method: "DELETE", path: "/v1/memories", key: admin}, 400, "CONFIRMATION_REQUIRED", map[string]any{"parameter": "confirm"}},
		{"bulk delete confirm=yes", req{method: "DELETE", path: "/v1/memories?confirm=yes&user_id=u1", key: admin}, 400, "CONFIRMATION_REQUIRED", nil},

		// INVALID_API_KEY
		{"no key", req{method: "GET", path: "/v1/memories"}, 401, "INVALID_API_KEY", nil},
		{"malformed key", req{method: "GET", path: "/v1/memories", key: "mem_live_short"}, 401, "INVALID_API_KEY", nil},
		{"unknown key", req{method: "GET", path: "/v1/memories", key: "mem_live_" + strings.Repeat("A", 32)}, 401, "INVALID_API_KEY", nil},
		{"basic auth", req{method: "GET", path: "/v1/memories", header: map[string]string{"Authorization": "Basic " + admin}}, 401, "INVALID_API_KEY", nil},
		{"wrong admin token", req{method: "GET", path: "/v1/admin/orgs", key: "not-the-admin-token"}, 401, "INVALID_API_KEY", nil},
		{"api key on operator API", req{method: "GET", path: "/v1/admin/orgs", key: admin}, 401, "INVALID_API_KEY", nil},

		// INSUFFICIENT_SCOPE
		{"read key creates", req{method: "POST", path: "/v1/memories", key: reader.Key, body: map[string]any{"text": "x"}}, 403, "INSUFFICIENT_SCOPE", map[string]any{"required_scope": "write"}},
		{"read key updates", req{method: "PUT", path: "/v1/memories/" + m.ID, key: reader.Key, body: map[string]any{"text": "x"}}, 403, "INSUFFICIENT_SCOPE", map[string]any{"required_scope": "write"}},
		{"read key deletes", req{method: "DELETE", path: "/v1/memories/" + m.ID, key: reader.Key}, 403, "INSUFFICIENT_SCOPE", map[string]any{"required_scope": "delete"}},
		{"write key bulk deletes", req{method: "DELETE", path: "/v1/memories?confirm=true", key: writer.Key}, 403, "INSUFFICIENT_SCOPE", map[string]any{"required_scope": "delete"}},
		{"write key reads", req{method: "GET", path: "/v1/memories/" + m.ID, key: writer.Key}, 403, "INSUFFICIENT_SCOPE", map[string]any{"required_scope": "read"}},
		{"read key lists keys", req{method: "GET", path: "/v1/account/api-keys", key: reader.Key}, 403, "INSUFFICIENT_SCOPE", map[string]any{"required_scope": "admin"}},
		{"read key creates keys", req{method: "POST", path: "/v1/account/api-keys", key: reader.Key, body: map[string]any{"name": "k", "scopes": []string{"admin"}}}, 403, "INSUFFICIENT_SCOPE", map[string]any{"required_scope": "admin"}},
		{"write key revokes", req{method: "DELETE", path: "/v1/account/api-keys/" + reader.ID, key: writer.Key}, 403, "INSUFFICIENT_SCOPE", map[string]any{"required_scope": "admin"}},

		// 404s
		{"unknown memory", req{method: "GET", path: "/v1/memories/mem_00000000000000000000000000", key: admin}, 404, "MEMORY_NOT_FOUND", nil},
		{"path traversal id", req{method: "GET", path: "/v1/memories/..%2F..%2Fetc%2Fpasswd", key: admin}, 404, "MEMORY_NOT_FOUND", nil},
		{"injection id", req{method: "DELETE", path: "/v1/memories/mem_1%27%20OR%20%271%27%3D%271", key: admin}, 404, "MEMORY_NOT_FOUND", nil},
		{"history of unknown", req{method: "GET", path: "/v1/memories/mem_00000000000000000000000000/history", key: admin}, 404, "MEMORY_NOT_FOUND", nil},
		{"unknown key id", req{method: "DELETE", path: "/v1/account/api-keys/key_00000000000000000000000000", key: admin}, 404, "KEY_NOT_FOUND", nil},
		{"unknown route", req{method: "GET", path: "/v1/nothing-here", key: admin}, 404, "NOT_FOUND", nil},
		{"unknown org", req{method: "GET", path: "/v1/admin/orgs/org_00000000000000000000000000", key: testAdminToken}, 404, "NOT_FOUND", nil},

		// 405, 409, 413, 415
		{"method not allowed", req{method: "PATCH", path: "/v1/memories/" + m.ID, key: admin}, 405, "METHOD_NOT_ALLOWED", nil},
		{"method not allowed on account", req{method: "POST", path: "/v1/account", key: admin}, 405, "METHOD_NOT_ALLOWED", nil},
		{"too large", post("/v1/memories", `{"text":"`+strings.Repeat("a", 10<<20)+`"}`), 413, "PAYLOAD_TOO_LARGE", map[string]any{"limit_bytes": float64(10 << 20)}},
		{"not JSON media type", req{method: "POST", path: "/v1/memories", key: admin, body: `text=x`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "UNSUPPORTED_MEDIA_TYPE", nil},
		{"no media type", req{method: "POST", path: "/v1/memories", key: admin, body: `{"text":"x"}`, header: map[string]string{"Content-Type": ""}}, 415, "UNSUPPORTED_MEDIA_TYPE", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := s.fails(t, c.status, c.code, c.q)
			for k, want := range c.details {
				if fmt.Sprint(d[k]) != fmt.Sprint(want) {
					t.Fatalf("details.%s = %v, want %v (details %v)", k, d[k], want, d)
				}
			}
		})
	}

	// 409: the same Idempotency-Key with another body.
	idem := map[string]string{"Idempotency-Key": "k-409"}
	s.ok(t, 201, req{method: "POST", path: "/v1/memories", key: admin, body: map[string]any{"text": "first"}, header: idem}, nil)
	s.fails(t, 409, "IDEMPOTENCY_CONFLICT", req{method: "POST", path: "/v1/memories", key: admin, body: map[string]any{"text": "second"}, header: idem})

	// Nothing above changed the data: one memory from setup, one from the 409 check.
	var got memoryJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + m.ID, key: admin}, &got)
	if got.Text != "stable fact" || got.Version != 1 {
		t.Fatalf("memory changed: %+v", got)
	}
	if n := s.countMemories(t, admin); n != 2 {
		t.Fatalf("%d memories, want 2", n)
	}
	var keys struct {
		APIKeys []keyJSON `json:"api_keys"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account/api-keys", key: admin}, &keys)
	if len(keys.APIKeys) != 3 {
		t.Fatalf("%d keys, want 3", len(keys.APIKeys))
	}
	for _, k := range keys.APIKeys {
		if k.RevokedAt != nil || k.ExpiresAt != nil {
			t.Fatalf("a key changed: %+v", k)
		}
	}
	var orgs struct {
		Orgs []orgJSON `json:"orgs"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/admin/orgs", key: testAdminToken}, &orgs)
	if len(orgs.Orgs) != 2 {
		t.Fatalf("%d orgs, want 2", len(orgs.Orgs))
	}
}

// Without an admin token the operator API does not exist.
func TestOperatorAPIDisabled(t *testing.T) {
	s := startServer(t, "", "MEMORYD_ADMIN_TOKEN=")
	s.fails(t, 404, "NOT_FOUND", req{method: "GET", path: "/v1/admin/orgs", key: testAdminToken})
	s.fails(t, 404, "NOT_FOUND", req{method: "POST", path: "/v1/admin/orgs", key: testAdminToken, body: map[string]any{"name": "x"}})
}

// The client's sane X-Request-ID is echoed; an unsafe one is replaced.
func TestRequestIDs(t *testing.T) {
	s := startServer(t, "")
	r := s.do(t, req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-ID": "client-abc.123"}})
	if r.Header.Get("X-Request-ID") != "client-abc.123" || r.Env.Meta["request_id"] != "client-abc.123" {
		t.Fatalf("sane id not echoed: %v %s", r.Header, r.Raw)
	}
	r = s.do(t, req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-ID": "bad id\twith<junk>"}})
	if id := r.Header.Get("X-Request-ID"); !strings.HasPrefix(id, "req_") {
		t.Fatalf("unsafe id kept: %q", id)
	}
}
