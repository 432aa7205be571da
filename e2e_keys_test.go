package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// Account, API keys and the operator API, end to end.
func TestAccountKeysAndAdmin(t *testing.T) {
	s := startServer(t, "")
	org, admin := s.newOrg(t, "keys-co", "starter")
	if !strings.HasPrefix(org.ID, "org_") || org.Plan != "starter" || !strings.HasPrefix(admin, "mem_live_") || len(admin) != 41 {
		t.Fatalf("new org %+v key %q", org, admin)
	}

	var acct struct {
		Org struct {
			ID, Name, Plan string
		} `json:"org"`
		Limits struct {
			RequestsPerMinute int               `json:"requests_per_minute"`
			RequestsPerDay    int               `json:"requests_per_day"`
			Concurrent        int               `json:"concurrent"`
			Monthly           map[string]*int64 `json:"monthly"`
		} `json:"limits"`
		APIKey struct {
			ID     string   `json:"id"`
			Prefix string   `json:"prefix"`
			Scopes []string `json:"scopes"`
			Mode   string   `json:"mode"`
		} `json:"api_key"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account", key: admin}, &acct)
	if acct.Org.ID != org.ID || acct.Org.Name != "keys-co" || acct.Limits.RequestsPerMinute != 60 || acct.Limits.RequestsPerDay != 5000 ||
		acct.Limits.Concurrent != 5 || acct.Limits.Monthly["api_calls"] == nil || *acct.Limits.Monthly["api_calls"] != 50000 ||
		acct.APIKey.Mode != "live" || acct.APIKey.Prefix != admin[:12] || !slices.Equal(acct.APIKey.Scopes, []string{"admin"}) {
		t.Fatalf("account = %+v", acct)
	}

	// Create keys: the whole key is shown once, then only its prefix.
	reader := s.newKey(t, admin, "live", "read")
	tester := s.newKey(t, admin, "test", "read", "write")
	if !strings.HasPrefix(reader.Key, "mem_live_") || !strings.HasPrefix(tester.Key, "mem_test_") || reader.Prefix != reader.Key[:12] {
		t.Fatalf("keys %+v %+v", reader, tester)
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account", key: reader.Key}, nil)
	var list struct {
		APIKeys []keyJSON `json:"api_keys"`
	}
	r := s.ok(t, 200, req{method: "GET", path: "/v1/account/api-keys", key: admin}, &list)
	if len(list.APIKeys) != 3 || strings.Contains(string(r.Raw), reader.Key) || strings.Contains(string(r.Raw), `"key"`) ||
		strings.Contains(string(r.Raw), "hash") {
		t.Fatalf("key list shows secrets or wrong count: %s", r.Raw)
	}

	// A key with an expiry fails once it passes.
	var exp struct {
		APIKey keyJSON `json:"api_key"`
	}
	at := time.Now().Add(1200 * time.Millisecond).UTC()
	s.ok(t, 201, req{method: "POST", path: "/v1/account/api-keys", key: admin,
		body: map[string]any{"name": "short-lived", "scopes": []string{"read"}, "expires_at": at.Format(time.RFC3339Nano)}}, &exp)
	s.ok(t, 200, req{method: "GET", path: "/v1/memories", key: exp.APIKey.Key}, nil)
	time.Sleep(time.Until(at) + 100*time.Millisecond)
	s.fails(t, 401, "INVALID_API_KEY", req{method: "GET", path: "/v1/memories", key: exp.APIKey.Key})

	// The test-mode admin sees only test keys; the live admin sees both.
	testAdmin := s.newKey(t, admin, "test", "admin")
	s.ok(t, 200, req{method: "GET", path: "/v1/account/api-keys", key: testAdmin.Key}, &list)
	for _, k := range list.APIKeys {
		if k.Mode != "test" {
			t.Fatalf("test admin sees a live key: %+v", k)
		}
	}
	if len(list.APIKeys) != 2 {
		t.Fatalf("test admin sees %d keys, want 2", len(list.APIKeys))
	}
	s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/account/api-keys", key: testAdmin.Key,
		body: map[string]any{"name": "escalate", "scopes": []string{"admin"}, "mode": "live"}})

	// Operator: list, get, patch, delete.
	var orgs struct {
		Orgs       []orgJSON `json:"orgs"`
		NextCursor *string   `json:"next_cursor"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/admin/orgs?limit=100", key: testAdminToken}, &orgs)
	if len(orgs.Orgs) != 2 || orgs.NextCursor != nil { // "default" and keys-co
		t.Fatalf("orgs = %+v", orgs)
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/admin/orgs?limit=1", key: testAdminToken}, &orgs)
	if len(orgs.Orgs) != 1 || orgs.NextCursor == nil {
		t.Fatalf("first page = %+v", orgs)
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/admin/orgs?limit=1&cursor=" + *orgs.NextCursor, key: testAdminToken}, &orgs)
	if len(orgs.Orgs) != 1 || orgs.Orgs[0].ID != org.ID || orgs.NextCursor != nil {
		t.Fatalf("second page = %+v", orgs)
	}
	var patched orgJSON
	s.ok(t, 200, req{method: "PATCH", path: "/v1/admin/orgs/" + org.ID, key: testAdminToken,
		body: map[string]any{"plan": "enterprise", "limits": map[string]any{"requests_per_minute": 12345}}}, &patched)
	if patched.Plan != "enterprise" || patched.Limits["requests_per_minute"] != 12345.0 {
		t.Fatalf("patched = %+v", patched)
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account", key: admin}, &acct)
	if acct.Org.Plan != "enterprise" || acct.Limits.RequestsPerMinute != 12345 || acct.Limits.Concurrent != 100 {
		t.Fatalf("account after patch = %+v", acct)
	}
	var got orgJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/admin/orgs/" + org.ID, key: testAdminToken}, &got)
	if got.Plan != "enterprise" {
		t.Fatalf("get org = %+v", got)
	}
	s.createMemory(t, admin, map[string]any{"text": "doomed with its org"})
	s.ok(t, 200, req{method: "DELETE", path: "/v1/admin/orgs/" + org.ID, key: testAdminToken}, nil)
	s.fails(t, 401, "INVALID_API_KEY", req{method: "GET", path: "/v1/memories", key: admin})
	s.fails(t, 404, "NOT_FOUND", req{method: "GET", path: "/v1/admin/orgs/" + org.ID, key: testAdminToken})
}

// A revoked key fails on the very next request; a rotated key's old value works until
// the grace period ends and not after.
func TestRevokeAndRotate(t *testing.T) {
	s := startServer(t, "")
	_, admin := s.newOrg(t, "rotating", "pro")

	victim := s.newKey(t, admin, "live", "read")
	s.ok(t, 200, req{method: "GET", path: "/v1/memories", key: victim.Key}, nil)
	var rev struct {
		ID      string `json:"id"`
		Revoked bool   `json:"revoked"`
	}
	s.ok(t, 200, req{method: "DELETE", path: "/v1/account/api-keys/" + victim.ID, key: admin}, &rev)
	if rev.ID != victim.ID || !rev.Revoked {
		t.Fatalf("revoke = %+v", rev)
	}
	s.fails(t, 401, "INVALID_API_KEY", req{method: "GET", path: "/v1/memories", key: victim.Key})
	var list struct {
		APIKeys []keyJSON `json:"api_keys"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account/api-keys", key: admin}, &list)
	for _, k := range list.APIKeys {
		if k.ID == victim.ID && k.RevokedAt == nil {
			t.Fatal("revoked key shows no revoked_at")
		}
	}

	old := s.newKey(t, admin, "live", "read", "write")
	var rot struct {
		APIKey keyJSON `json:"api_key"`
	}
	start := time.Now()
	s.ok(t, 201, req{method: "POST", path: "/v1/account/api-keys/" + old.ID + "/rotate", key: admin,
		body: map[string]any{"grace_period_seconds": 2}}, &rot)
	if rot.APIKey.Key == "" || rot.APIKey.Key == old.Key || rot.APIKey.ID == old.ID || !slices.Equal(rot.APIKey.Scopes, old.Scopes) {
		t.Fatalf("rotated = %+v", rot.APIKey)
	}
	// Both work inside the grace period.
	s.ok(t, 200, req{method: "GET", path: "/v1/memories", key: old.Key}, nil)
	s.ok(t, 200, req{method: "GET", path: "/v1/memories", key: rot.APIKey.Key}, nil)
	s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/account/api-keys/" + old.ID + "/rotate", key: admin})
	time.Sleep(time.Until(start.Add(2*time.Second)) + 200*time.Millisecond)
	d := s.do(t, req{method: "GET", path: "/v1/memories", key: old.Key})
	if d.Status != 401 || !strings.Contains(d.Env.Error.Message, "rotated") {
		t.Fatalf("old key after grace: %d %s", d.Status, d.Raw)
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/memories", key: rot.APIKey.Key}, nil)

	// Rotation with no grace cuts the old key off at once.
	s2 := s.newKey(t, admin, "live", "read")
	s.ok(t, 201, req{method: "POST", path: "/v1/account/api-keys/" + s2.ID + "/rotate", key: admin,
		body: map[string]any{"grace_period_seconds": 0}}, &rot)
	s.fails(t, 401, "INVALID_API_KEY", req{method: "GET", path: "/v1/memories", key: s2.Key})
}

// First start creates org "default" and prints its admin key once; `org create` works
// on a stopped server's folder and refuses a running one's.
func TestFirstStartAndOrgCreate(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	if s.firstKey == "" {
		t.Fatal("first start printed no admin key")
	}
	var acct struct {
		Org struct{ Name, Plan string } `json:"org"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account", key: s.firstKey}, &acct)
	if acct.Org.Name != "default" {
		t.Fatalf("first org = %+v", acct.Org)
	}
	defaultKey := s.firstKey
	s.createMemory(t, defaultKey, map[string]any{"text": "survives restarts"})

	out, err := exec.Command(binPath, "org", "create", "--name", "busy", "--data", data).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("org create on a running server's folder: %v %s", err, out)
	}
	s.stop()

	out, err = exec.Command(binPath, "org", "create", "--name", "cli-co", "--plan", "pro", "--data", data).Output()
	if err != nil {
		t.Fatalf("org create: %v", err)
	}
	var created struct {
		Org    orgJSON `json:"org"`
		APIKey keyJSON `json:"api_key"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.Org.Plan != "pro" || !strings.HasPrefix(created.APIKey.Key, "mem_live_") {
		t.Fatalf("org create printed %s (%v)", out, err)
	}
	if out, err := exec.Command(binPath, "org", "create", "--name", "x", "--plan", "gold", "--data", data).CombinedOutput(); err == nil {
		t.Fatalf("unknown plan accepted: %s", out)
	}

	s = startServer(t, data)
	if s.firstKey != "" {
		t.Fatal("a restart printed a new admin key")
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account", key: created.APIKey.Key}, &acct)
	if acct.Org.Name != "cli-co" || s.countMemories(t, created.APIKey.Key) != 0 {
		t.Fatalf("cli org account %+v", acct.Org)
	}
	if n := s.countMemories(t, defaultKey); n != 1 {
		t.Fatalf("default org has %d memories after restart, want 1", n)
	}
	out, err = exec.Command(binPath, "version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "memoryd e2e" {
		t.Fatalf("version: %q %v", out, err)
	}
}
