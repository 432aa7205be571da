package main

// The attack suite: hostile input against every endpoint, each answered with its
// contract error and changing nothing. It extends e2e_errors_test.go (one case per
// error code) and e2e_isolation_test.go (memories and keys) to every route.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

func init() {
	// The audit export is JSON lines; the contract checks it as a string.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson",
		func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(body)
			return string(b), err
		})
}

// endpoint is one route with a body that passes validation, so that what the test
// varies (the key, the id) decides the answer.
type endpoint struct {
	method, path string
	body         any
	scope        string
}

// tenantEndpoints are every API-key route, with A's ids filled in.
func tenantEndpoints(memID, jobID, keyID string) []endpoint {
	return []endpoint{
		{"POST", "/v1/memories", map[string]any{"text": "attack"}, "write"},
		{"GET", "/v1/memories", nil, "read"},
		{"DELETE", "/v1/memories?confirm=true", nil, "delete"},
		{"GET", "/v1/memories/" + memID, nil, "read"},
		{"PUT", "/v1/memories/" + memID, map[string]any{"text": "overwritten"}, "write"},
		{"DELETE", "/v1/memories/" + memID, nil, "delete"},
		{"GET", "/v1/memories/" + memID + "/history", nil, "read"},
		{"POST", "/v1/batch/memories", map[string]any{"memories": []any{map[string]any{"text": "attack"}}}, "write"},
		{"POST", "/v1/batch/embeddings", map[string]any{"memory_ids": []string{memID}}, "write"},
		{"GET", "/v1/batch/" + jobID, nil, "read"},
		{"POST", "/v1/retrieve", map[string]any{"context": "secret"}, "read"},
		{"POST", "/v1/query", map[string]any{"context": "secret"}, "read"},
		{"POST", "/v1/query/answer", map[string]any{"context": "secret"}, "read"},
		{"GET", "/v1/usage", nil, "read"},
		{"GET", "/v1/usage/history", nil, "read"},
		{"GET", "/v1/account", nil, "read"},
		{"GET", "/v1/account/api-keys", nil, "admin"},
		{"POST", "/v1/account/api-keys", map[string]any{"name": "x", "scopes": []string{"admin"}}, "admin"},
		{"DELETE", "/v1/account/api-keys/" + keyID, nil, "admin"},
		{"POST", "/v1/account/api-keys/" + keyID + "/rotate", map[string]any{"grace_period_seconds": 0}, "admin"},
		{"GET", "/v1/account/audit", nil, "admin"},
	}
}

// snapshot is what an org holds, to show an attack changed nothing.
type snapshot struct {
	memory   string // text, version and update time
	memories int
	history  int
	keys     string
}

func (s *server) snapshot(t *testing.T, admin, memID string) snapshot {
	t.Helper()
	var sn snapshot
	var m memoryJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + memID, key: admin}, &m)
	sn.memory = fmt.Sprintf("%s|%d|%s", m.Text, m.Version, m.UpdatedAt)
	sn.memories = s.countMemories(t, admin)
	var hist struct {
		Events []map[string]any `json:"events"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + memID + "/history", key: admin}, &hist)
	sn.history = len(hist.Events)
	var keys struct {
		APIKeys []keyJSON `json:"api_keys"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account/api-keys", key: admin}, &keys)
	for _, k := range keys.APIKeys {
		sn.keys += fmt.Sprintf("%s:%v:%v;", k.ID, k.RevokedAt != nil, k.ExpiresAt != nil)
	}
	return sn
}

func TestAttackSuite(t *testing.T) {
	s := startServer(t, "")
	_, adminA := s.newOrg(t, "victim", "enterprise")
	orgB, adminB := s.newOrg(t, "attacker", "enterprise")
	memA := s.createMemory(t, adminA, map[string]any{"text": "A's private fact", "user_id": "u1"})
	keyA := s.newKey(t, adminA, "live", "read")
	var job struct {
		Job struct {
			ID string `json:"id"`
		} `json:"job"`
	}
	s.ok(t, 202, req{method: "POST", path: "/v1/batch/embeddings", key: adminA, body: map[string]any{"memory_ids": []string{memA.ID}}}, &job)
	memB := s.createMemory(t, adminB, map[string]any{"text": "B's own fact"})
	endpoints := tenantEndpoints(memA.ID, job.Job.ID, keyA.ID)
	before := s.snapshot(t, adminA, memA.ID)
	beforeB := s.snapshot(t, adminB, memB.ID)

	t.Run("key in the URL", func(t *testing.T) {
		for _, e := range endpoints {
			for _, p := range []string{"api_key", "key", "token", "access_token"} {
				sep := "?"
				if strings.Contains(e.path, "?") {
					sep = "&"
				}
				d := s.fails(t, 400, "INVALID_REQUEST", req{method: e.method, path: e.path + sep + p + "=" + adminA, body: e.body})
				if d["field"] != p {
					t.Fatalf("%s %s: details %v", e.method, e.path, d)
				}
			}
		}
	})

	t.Run("forged session cookie", func(t *testing.T) {
		for _, e := range endpoints {
			s.fails(t, 401, "INVALID_API_KEY", req{method: e.method, path: e.path, body: e.body,
				header: map[string]string{"Cookie": "memoryd_session=forged-0123456789abcdef; session=admin"}})
		}
		s.fails(t, 401, "INVALID_API_KEY", req{method: "GET", path: "/v1/admin/orgs",
			header: map[string]string{"Cookie": "memoryd_session=" + testAdminToken}})
	})

	t.Run("too small scope", func(t *testing.T) {
		keys := map[string]string{}
		for _, sc := range []string{"read", "write", "delete"} {
			keys[sc] = s.newKey(t, adminA, "live", sc).Key
		}
		for _, e := range endpoints {
			for sc, key := range keys {
				if sc == e.scope {
					continue
				}
				d := s.fails(t, 403, "INSUFFICIENT_SCOPE", req{method: e.method, path: e.path, key: key, body: e.body})
				if d["required_scope"] != e.scope {
					t.Fatalf("%s %s with %s: details %v", e.method, e.path, sc, d)
				}
			}
		}
		// Put the snapshot's key list back in step: the three keys are A's own.
		before = s.snapshot(t, adminA, memA.ID)
	})

	t.Run("another org's ids", func(t *testing.T) {
		for _, e := range endpoints {
			code := ""
			switch {
			case strings.Contains(e.path, memA.ID):
				code = "MEMORY_NOT_FOUND"
			case strings.Contains(e.path, job.Job.ID):
				code = "JOB_NOT_FOUND"
			case strings.Contains(e.path, keyA.ID):
				code = "KEY_NOT_FOUND"
			case e.method == "POST" && e.path == "/v1/batch/embeddings":
				code = "MEMORY_NOT_FOUND"
			default:
				continue
			}
			s.fails(t, 404, code, req{method: e.method, path: e.path, key: adminB, body: e.body})
		}
		// Lists, retrieval, usage and the audit log of B show nothing of A's.
		for _, q := range []req{
			{method: "GET", path: "/v1/memories?user_id=u1"},
			{method: "POST", path: "/v1/retrieve", body: map[string]any{"context": "A's private fact"}},
			{method: "POST", path: "/v1/query", body: map[string]any{"context": "A's private fact"}},
			{method: "GET", path: "/v1/account/api-keys"},
			{method: "GET", path: "/v1/account/audit?limit=100"},
		} {
			q.key = adminB
			r := s.ok(t, 200, q, nil)
			if strings.Contains(string(r.Raw), memA.ID) || strings.Contains(string(r.Raw), "A's private") || strings.Contains(string(r.Raw), keyA.ID) {
				t.Fatalf("%s %s shows A's data: %s", q.method, q.path, r.Raw)
			}
		}
		var acct struct {
			Org orgJSON `json:"org"`
		}
		s.ok(t, 200, req{method: "GET", path: "/v1/account", key: adminB}, &acct)
		if acct.Org.ID != orgB.ID {
			t.Fatalf("B's account shows org %s", acct.Org.ID)
		}
	})

	t.Run("hostile ids", func(t *testing.T) {
		for _, id := range []string{
			"' OR '1'='1", "1; DROP TABLE memories; --", `{"$ne": null}`, `{"$gt": ""}`, "mem_*",
			"../../meta/key_secret", "..\\..\\memoryd.db", "mem_" + strings.Repeat("z", 26) + "\x00",
			"mem_%00", strings.Repeat("A", 4000), "mem_ÿ",
		} {
			esc := url.PathEscape(id)
			for _, q := range []struct {
				req
				status int
				code   string
			}{
				{req{method: "GET", path: "/v1/memories/" + esc}, 404, "MEMORY_NOT_FOUND"},
				{req{method: "PUT", path: "/v1/memories/" + esc, body: map[string]any{"text": "x"}}, 404, "MEMORY_NOT_FOUND"},
				{req{method: "DELETE", path: "/v1/memories/" + esc}, 404, "MEMORY_NOT_FOUND"},
				{req{method: "GET", path: "/v1/memories/" + esc + "/history"}, 404, "MEMORY_NOT_FOUND"},
				{req{method: "GET", path: "/v1/batch/" + esc}, 404, "JOB_NOT_FOUND"},
				{req{method: "DELETE", path: "/v1/account/api-keys/" + esc}, 404, "KEY_NOT_FOUND"},
				{req{method: "POST", path: "/v1/account/api-keys/" + esc + "/rotate", body: map[string]any{"grace_period_seconds": 0}}, 404, "KEY_NOT_FOUND"},
				{req{method: "GET", path: "/v1/admin/orgs/" + esc, key: testAdminToken}, 404, "NOT_FOUND"},
				{req{method: "PATCH", path: "/v1/admin/orgs/" + esc, key: testAdminToken, body: map[string]any{"plan": "pro"}}, 404, "NOT_FOUND"},
				{req{method: "DELETE", path: "/v1/admin/orgs/" + esc, key: testAdminToken}, 404, "NOT_FOUND"},
				{req{method: "GET", path: "/v1/admin/orgs/" + esc + "/audit", key: testAdminToken}, 404, "NOT_FOUND"},
			} {
				if q.key == "" {
					q.key = adminA
				}
				s.fails(t, q.status, q.code, q.req)
			}
			// In a body, a hostile id is a missing memory too.
			s.fails(t, 404, "MEMORY_NOT_FOUND", req{method: "POST", path: "/v1/batch/embeddings", key: adminA, body: map[string]any{"memory_ids": []string{id}}})
			// And as a cursor, a bad cursor.
			s.fails(t, 400, "INVALID_REQUEST", req{method: "GET", path: "/v1/memories?cursor=" + url.QueryEscape(id), key: adminA})
		}
	})

	t.Run("hostile bodies", func(t *testing.T) {
		deep := strings.Repeat(`[`, 64) + strings.Repeat(`]`, 64)
		long := "[" + strings.Repeat(`"x",`, 1000) + `"x"]`
		for _, e := range endpoints {
			if e.body == nil {
				continue
			}
			for name, body := range map[string]any{
				"not JSON":     `{"text": `,
				"invalid UTF8": []byte("{\"text\": \"\xc3\x28\"}"),
				"deep":         deep,
				"array":        `[1, 2]`,
				"string":       `"text"`,
				"nul bytes":    "{\"text\": \"a\"}\x00\x00",
			} {
				t.Run(e.method+" "+e.path+" "+name, func(t *testing.T) {
					s.fails(t, 400, "INVALID_REQUEST", req{method: e.method, path: e.path, key: adminA, body: body})
				})
			}
		}
		// Over-long arrays anywhere in a body, and metadata nested past the depth limit.
		for _, c := range []struct {
			path, body, field string
		}{
			{"/v1/memories", `{"text":"x","metadata":{"tags":` + long + `}}`, "metadata.tags"},
			{"/v1/batch/embeddings", `{"memory_ids":` + long + `}`, "memory_ids"},
			{"/v1/account/api-keys", `{"name":"k","scopes":` + long + `}`, "scopes"},
			{"/v1/retrieve", `{"context":"x","filters":{"metadata":{"k":` + long + `}}}`, "filters.metadata.k"},
		} {
			d := s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: c.path, key: adminA, body: c.body})
			if d["field"] != c.field {
				t.Fatalf("%s: details %v, want field %s", c.path, d, c.field)
			}
		}
		big := `{"text":"` + strings.Repeat("a", 10<<20) + `"}`
		for _, p := range []string{"/v1/batch/memories", "/v1/retrieve", "/v1/account/api-keys"} {
			s.fails(t, 413, "PAYLOAD_TOO_LARGE", req{method: "POST", path: p, key: adminA, body: big})
		}
	})

	t.Run("expired revoked rotated keys", func(t *testing.T) {
		var expiring struct {
			APIKey keyJSON `json:"api_key"`
		}
		s.ok(t, 201, req{method: "POST", path: "/v1/account/api-keys", key: adminA, body: map[string]any{
			"name": "short-lived", "scopes": []string{"admin"}, "expires_at": time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)}}, &expiring)
		revoked := s.newKey(t, adminA, "live", "admin")
		s.ok(t, 200, req{method: "DELETE", path: "/v1/account/api-keys/" + revoked.ID, key: adminA}, nil)
		rotated := s.newKey(t, adminA, "live", "admin")
		s.ok(t, 201, req{method: "POST", path: "/v1/account/api-keys/" + rotated.ID + "/rotate", key: adminA, body: map[string]any{"grace_period_seconds": 0}}, nil)
		time.Sleep(1600 * time.Millisecond)
		before = s.snapshot(t, adminA, memA.ID)
		for name, key := range map[string]string{"expired": expiring.APIKey.Key, "revoked": revoked.Key, "rotated": rotated.Key} {
			for _, e := range endpoints {
				if d := s.fails(t, 401, "INVALID_API_KEY", req{method: e.method, path: e.path, key: key, body: e.body}); d == nil {
					t.Fatalf("%s key: no details", name)
				}
			}
		}
	})

	t.Run("security headers", func(t *testing.T) {
		for _, q := range []req{
			{method: "GET", path: "/healthz"},
			{method: "GET", path: "/v1/memories", key: adminA},
			{method: "GET", path: "/v1/memories"},
			{method: "GET", path: "/v1/nowhere", key: adminA},
		} {
			r := s.do(t, q)
			for h, want := range map[string]string{
				"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
			} {
				if got := r.Header.Get(h); got != want {
					t.Fatalf("%s %s: %s = %q, want %q", q.method, q.path, h, got, want)
				}
			}
			if strings.HasPrefix(q.path, "/v1/") && r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s: Cache-Control %q", q.path, r.Header.Get("Cache-Control"))
			}
			if r.Header.Get("Strict-Transport-Security") != "" || r.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("plain HTTP without Origin got HSTS or CORS: %v", r.Header)
			}
		}
	})

	// Nothing above changed either org.
	if after := s.snapshot(t, adminA, memA.ID); after != before {
		t.Fatalf("A changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if after := s.snapshot(t, adminB, memB.ID); after != beforeB {
		t.Fatalf("B changed:\nbefore %+v\nafter  %+v", beforeB, after)
	}
}
