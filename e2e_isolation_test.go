package main

import (
	"testing"
)

// Another org's key, and the same org's test-mode key against live data, get 404 on
// every memory and key call, and change nothing.
func TestTenantIsolation(t *testing.T) {
	s := startServer(t, "")
	_, adminA := s.newOrg(t, "org-a", "pro")
	_, adminB := s.newOrg(t, "org-b", "pro")
	testA := s.newKey(t, adminA, "test", "admin")

	memA := s.createMemory(t, adminA, map[string]any{"text": "A's secret fact", "user_id": "shared-user"})
	keyA := s.newKey(t, adminA, "live", "read")
	testMem := s.createMemory(t, testA.Key, map[string]any{"text": "A's sandbox fact", "user_id": "shared-user"})

	intruders := map[string]string{"other org": adminB, "same org, test mode": testA.Key}
	for name, key := range intruders {
		t.Run(name, func(t *testing.T) {
			for _, q := range []req{
				{method: "GET", path: "/v1/memories/" + memA.ID},
				{method: "GET", path: "/v1/memories/" + memA.ID + "/history"},
				{method: "PUT", path: "/v1/memories/" + memA.ID, body: map[string]any{"text": "overwritten"}},
				{method: "DELETE", path: "/v1/memories/" + memA.ID},
			} {
				q.key = key
				s.fails(t, 404, "MEMORY_NOT_FOUND", q)
			}
			for _, q := range []req{
				{method: "DELETE", path: "/v1/account/api-keys/" + keyA.ID},
				{method: "POST", path: "/v1/account/api-keys/" + keyA.ID + "/rotate", body: map[string]any{"grace_period_seconds": 0}},
			} {
				q.key = key
				s.fails(t, 404, "KEY_NOT_FOUND", q)
			}
			var list struct {
				Memories []memoryJSON `json:"memories"`
			}
			s.ok(t, 200, req{method: "GET", path: "/v1/memories?user_id=shared-user", key: key}, &list)
			for _, m := range list.Memories {
				if m.ID == memA.ID {
					t.Fatal("list shows another tenant's memory")
				}
			}
			var keys struct {
				APIKeys []keyJSON `json:"api_keys"`
			}
			s.ok(t, 200, req{method: "GET", path: "/v1/account/api-keys", key: key}, &keys)
			for _, k := range keys.APIKeys {
				if k.ID == keyA.ID {
					t.Fatal("key list shows a key of another tenant")
				}
			}
			// A bulk delete by the intruder leaves A's live data alone.
			s.ok(t, 200, req{method: "DELETE", path: "/v1/memories?confirm=true&user_id=shared-user", key: key}, nil)
		})
	}

	// Nothing of A's changed: the memory, its version and history, and the key.
	var m memoryJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + memA.ID, key: adminA}, &m)
	if m.Text != "A's secret fact" || m.Version != 1 {
		t.Fatalf("A's memory changed: %+v", m)
	}
	var hist struct {
		Events []map[string]any `json:"events"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + memA.ID + "/history", key: adminA}, &hist)
	if len(hist.Events) != 1 {
		t.Fatalf("A's history changed: %+v", hist)
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/memories", key: keyA.Key}, nil)
	// The sandbox memory was the test key's own: its bulk delete removed it, and live
	// keys never saw it.
	s.fails(t, 404, "MEMORY_NOT_FOUND", req{method: "GET", path: "/v1/memories/" + testMem.ID, key: adminA})
	if n := s.countMemories(t, adminA); n != 1 {
		t.Fatalf("A has %d live memories, want 1", n)
	}
	if n := s.countMemories(t, testA.Key); n != 0 {
		t.Fatalf("A's sandbox has %d memories after its own bulk delete, want 0", n)
	}
}

// Test-mode data is a separate sandbox in both directions.
func TestTestModeSandbox(t *testing.T) {
	s := startServer(t, "")
	_, admin := s.newOrg(t, "sandboxed", "pro")
	test := s.newKey(t, admin, "test", "read", "write", "delete")
	tm := s.createMemory(t, test.Key, map[string]any{"text": "sandbox only"})
	s.fails(t, 404, "MEMORY_NOT_FOUND", req{method: "GET", path: "/v1/memories/" + tm.ID, key: admin})
	if s.countMemories(t, admin) != 0 || s.countMemories(t, test.Key) != 1 {
		t.Fatal("sandbox and live data mix")
	}
	var acct struct {
		APIKey struct {
			Mode string `json:"mode"`
		} `json:"api_key"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account", key: test.Key}, &acct)
	if acct.APIKey.Mode != "test" {
		t.Fatalf("account mode = %q", acct.APIKey.Mode)
	}
}
