package main

// End-to-end tests of per-org export and import: over the operator API on a running
// server, and with the CLI on a stopped one's data folder.

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// exportLine is one line of an export, as the tests read it.
type exportLine struct {
	Mode    string           `json:"mode"`
	ID      string           `json:"id"`
	Text    string           `json:"text"`
	UserID  string           `json:"user_id"`
	Version int              `json:"version"`
	History []map[string]any `json:"history"`
}

func parseExport(t *testing.T, raw []byte) []exportLine {
	t.Helper()
	var out []exportLine
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var l exportLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		if bytes.Contains(line, []byte("mem_live_")) || bytes.Contains(line, []byte("mem_test_")) || bytes.Contains(line, []byte(`"vector`)) {
			t.Fatalf("export line holds a key or a vector: %s", line)
		}
		out = append(out, l)
	}
	return out
}

var ndjsonHeader = map[string]string{"Content-Type": "application/x-ndjson"}

func (s *server) export(t *testing.T, orgID, query string) []exportLine {
	t.Helper()
	r := s.do(t, req{method: "GET", path: "/v1/admin/orgs/" + orgID + "/export" + query, key: testAdminToken})
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/x-ndjson" ||
		r.Header.Get("Content-Disposition") != `attachment; filename="`+orgID+`.ndjson"` {
		t.Fatalf("export %s: %d %v %s", orgID, r.Status, r.Header, r.Raw)
	}
	return parseExport(t, r.Raw)
}

func TestOrgExportImport(t *testing.T) {
	s := startServer(t, "")
	src, key := s.newOrg(t, "source", "enterprise")
	ids := fill(t, s, key, 5, "the user keeps bees on the roof", "u_1")
	s.ok(t, 200, req{method: "PUT", path: "/v1/memories/" + ids[0], key: key, body: map[string]any{"text": "the user keeps goats in the garden"}}, nil)
	s.ok(t, 200, req{method: "DELETE", path: "/v1/memories/" + ids[4], key: key}, nil)
	sandbox := s.newKey(t, key, "test", "read", "write")
	testMem := s.createMemory(t, sandbox.Key, map[string]any{"text": "sandbox note about kayaks", "metadata": map[string]any{"k": "v"}})

	all := s.export(t, src.ID, "")
	if len(all) != 5 {
		t.Fatalf("export holds %d memories, want 4 live and 1 test: %+v", len(all), all)
	}
	byID := map[string]exportLine{}
	for _, l := range all {
		byID[l.ID] = l
	}
	if l := byID[ids[0]]; l.Mode != "live" || l.Version != 2 || l.Text != "the user keeps goats in the garden" ||
		len(l.History) != 2 || l.History[1]["event"] != "UPDATE" || l.History[1]["previous_text"] != "the user keeps bees on the roof 0" {
		t.Fatalf("updated memory exported as %+v", l)
	}
	if _, ok := byID[ids[4]]; ok {
		t.Fatal("a deleted memory was exported")
	}
	if l := byID[testMem.ID]; l.Mode != "test" {
		t.Fatalf("test-mode memory exported as %+v", l)
	}
	if live := s.export(t, src.ID, "?mode=live"); len(live) != 4 {
		t.Fatalf("mode=live export holds %d", len(live))
	}
	s.fails(t, 400, "INVALID_REQUEST", req{method: "GET", path: "/v1/admin/orgs/" + src.ID + "/export?mode=sandbox", key: testAdminToken})
	s.fails(t, 404, "NOT_FOUND", req{method: "GET", path: "/v1/admin/orgs/org_00000000000000000000000000/export", key: testAdminToken})
	s.fails(t, 401, "INVALID_API_KEY", req{method: "GET", path: "/v1/admin/orgs/" + src.ID + "/export", key: key})

	// Import into another org: same ids, fields and history; retrieval finds them.
	r := s.do(t, req{method: "GET", path: "/v1/admin/orgs/" + src.ID + "/export", key: testAdminToken})
	dump := r.Raw
	dst, dstKey := s.newOrg(t, "destination", "pro")
	imp := req{method: "POST", path: "/v1/admin/orgs/" + dst.ID + "/import", key: testAdminToken, body: dump, header: ndjsonHeader}
	var res struct {
		Imported int            `json:"imported"`
		Modes    map[string]int `json:"modes"`
	}
	s.ok(t, 201, imp, &res)
	if res.Imported != 5 || res.Modes["live"] != 4 || res.Modes["test"] != 1 {
		t.Fatalf("import answered %+v", res)
	}
	if got, want := s.memoryIDs(t, dstKey), sorted(ids[:4]); !slices.Equal(got, want) {
		t.Fatalf("destination holds %v, want %v", got, want)
	}
	var m memoryJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + ids[0], key: dstKey}, &m)
	if m.Text != "the user keeps goats in the garden" || m.Version != 2 || m.UserID == nil || *m.UserID != "u_1" {
		t.Fatalf("imported memory %+v", m)
	}
	var hist struct {
		Events []map[string]any `json:"events"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + ids[0] + "/history", key: dstKey}, &hist)
	if len(hist.Events) != 2 || hist.Events[0]["event"] != "ADD" || hist.Events[1]["event"] != "UPDATE" {
		t.Fatalf("imported history %v", hist.Events)
	}
	hits := s.retrieve(t, dstKey, map[string]any{"context": "Which animals does the user keep in the garden?", "max_memories": 1})
	if len(hits) != 1 || hits[0].ID != ids[0] {
		t.Fatalf("retrieval after import found %+v, want %s", hits, ids[0])
	}
	dstSandbox := s.newKey(t, dstKey, "test", "read")
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + testMem.ID, key: dstSandbox.Key}, nil)

	// All or nothing: importing the same file again fails on the first id and adds
	// nothing; so does a file with one bad line.
	d := s.fails(t, 400, "INVALID_REQUEST", imp)
	if d["field"] != "lines[0].id" {
		t.Fatalf("re-import details %v", d)
	}
	bad := append(bytes.Clone(dump), []byte(`{"mode":"live","id":"mem_01jbx2a0c2e4g6j8l0n2q4s6u8","text":"x","version":1,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","history":[],"color":"red"}`+"\n")...)
	fresh, freshKey := s.newOrg(t, "fresh", "pro")
	d = s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/admin/orgs/" + fresh.ID + "/import", key: testAdminToken, body: bad, header: ndjsonHeader})
	if d["field"] != "lines[5]" {
		t.Fatalf("bad line details %v", d)
	}
	if n := s.countMemories(t, freshKey); n != 0 {
		t.Fatalf("a failed import left %d memories", n)
	}
	s.fails(t, 415, "UNSUPPORTED_MEDIA_TYPE", req{method: "POST", path: "/v1/admin/orgs/" + fresh.ID + "/import", key: testAdminToken, body: dump})
	s.fails(t, 415, "UNSUPPORTED_MEDIA_TYPE", req{method: "POST", path: "/v1/memories", key: freshKey, body: `{"text":"x"}`, header: ndjsonHeader})
	s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/admin/orgs/" + fresh.ID + "/import", key: testAdminToken, body: "\n\n", header: ndjsonHeader})
	s.fails(t, 404, "NOT_FOUND", req{method: "POST", path: "/v1/admin/orgs/org_00000000000000000000000000/import", key: testAdminToken, body: dump, header: ndjsonHeader})

	// The CLI on the stopped server's folder: the same export, and an import into an
	// org made with `memoryd org create`.
	s.stop()
	out := filepath.Join(t.TempDir(), "source.ndjson")
	cliFails(t, "--org must be an org id", nil, "export", "--org", "acme", "--data", s.data, "--out", out)
	msg := cliOK(t, nil, "export", "--org", src.ID, "--data", s.data, "--out", out)
	if !strings.Contains(msg, "exported 5 memories") {
		t.Fatalf("export printed %q", msg)
	}
	raw, _ := os.ReadFile(out)
	if !bytes.Equal(raw, dump) {
		t.Fatalf("CLI export differs from the API's:\n%s\n---\n%s", raw, dump)
	}
	var created struct {
		Org    orgJSON `json:"org"`
		APIKey keyJSON `json:"api_key"`
	}
	json.Unmarshal([]byte(cliOK(t, nil, "org", "create", "--name", "cli", "--data", s.data)), &created)
	msg = cliOK(t, nil, "import", "--org", created.Org.ID, "--data", s.data, "--in", out)
	if !strings.Contains(msg, `"imported":5`) {
		t.Fatalf("import printed %q", msg)
	}
	cliFails(t, "already used", nil, "import", "--org", created.Org.ID, "--data", s.data, "--in", out)

	s2 := startServer(t, s.data)
	if got := s2.memoryIDs(t, created.APIKey.Key); !slices.Equal(got, sorted(ids[:4])) {
		t.Fatalf("CLI import: %v", got)
	}
	hits = s2.retrieve(t, created.APIKey.Key, map[string]any{"context": "goats in the garden", "max_memories": 1})
	if len(hits) != 1 || hits[0].ID != ids[0] {
		t.Fatalf("retrieval after CLI import found %+v", hits)
	}
}
