package main

// End-to-end tests of the operator's data commands against the real binary: a hot
// backup over HTTP, an offline one, restore, verify and compact.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// cli runs `memoryd args…` to completion and returns its output and exit code.
func cli(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("memoryd %v: %v", args, err)
	}
	if strings.Contains(errOut.String(), "unknown command") {
		t.Fatalf("memoryd %s is not wired into main.go run() yet: %s", args[0], errOut.String())
	}
	return out.String(), errOut.String(), code
}

// cliOK runs a command that must succeed.
func cliOK(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, env, args...)
	if code != 0 {
		t.Fatalf("memoryd %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}

// cliFails runs a command that must fail with a message containing want.
func cliFails(t *testing.T, want string, env []string, args ...string) {
	t.Helper()
	out, errOut, code := cli(t, env, args...)
	if code == 0 || !strings.Contains(errOut, want) {
		t.Fatalf("memoryd %v: exit %d, stderr %q; want a failure saying %q (stdout: %s)", args, code, errOut, want, out)
	}
}

// verifyFile runs `memoryd verify` and decodes its report.
func verifyFile(t *testing.T, path string) map[string]int {
	t.Helper()
	var rep map[string]int
	out := cliOK(t, nil, "verify", "--in", path)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify printed %q: %v", out, err)
	}
	return rep
}

// fill creates n memories of the user (one batch call) and returns their ids.
func fill(t *testing.T, s *server, key string, n int, text, user string) []string {
	t.Helper()
	var items []map[string]any
	for i := 0; i < n; i++ {
		items = append(items, map[string]any{"text": fmt.Sprintf("%s %d", text, i), "user_id": user})
	}
	var out struct {
		Memories []memoryJSON `json:"memories"`
	}
	s.ok(t, 201, req{method: "POST", path: "/v1/batch/memories", key: key, body: map[string]any{"memories": items}}, &out)
	var ids []string
	for _, m := range out.Memories {
		ids = append(ids, m.ID)
	}
	return ids
}

// memoryIDs lists every memory id the key sees, sorted.
func (s *server) memoryIDs(t *testing.T, key string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for {
		path := "/v1/memories?limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page struct {
			Memories   []memoryJSON `json:"memories"`
			NextCursor *string      `json:"next_cursor"`
		}
		s.ok(t, 200, req{method: "GET", path: path, key: key}, &page)
		for _, m := range page.Memories {
			ids = append(ids, m.ID)
		}
		if page.NextCursor == nil {
			slices.Sort(ids)
			return ids
		}
		cursor = *page.NextCursor
	}
}

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

var attachment = regexp.MustCompile(`^attachment; filename="memoryd-\d{8}T\d{6}Z\.db"$`)

// A running server is backed up over HTTP while it serves; the copy restores into an
// empty folder, and a server started on it has every memory, key and history event.
func TestHotBackupRestore(t *testing.T) {
	s := startServer(t, "")
	key := s.firstKey
	ids := fill(t, s, key, 40, "the user likes sailing", "u_1")
	var updated memoryJSON
	s.ok(t, 200, req{method: "PUT", path: "/v1/memories/" + ids[0], key: key, body: map[string]any{"text": "the user likes rowing"}}, &updated)
	testKey := s.newKey(t, key, "test", "read", "write")
	sandbox := s.createMemory(t, testKey.Key, map[string]any{"text": "sandbox memory"})

	// The route itself: the operator token only, a binary attachment.
	s.fails(t, 401, "INVALID_API_KEY", req{method: "GET", path: "/v1/admin/backup", key: "wrong-token"})
	s.fails(t, 401, "INVALID_API_KEY", req{method: "GET", path: "/v1/admin/backup", key: key})
	r := s.do(t, req{method: "GET", path: "/v1/admin/backup", key: testAdminToken})
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/octet-stream" ||
		!attachment.MatchString(r.Header.Get("Content-Disposition")) || len(r.Raw) < 8192 {
		t.Fatalf("GET /v1/admin/backup: %d %v, %d bytes", r.Status, r.Header, len(r.Raw))
	}

	dir := t.TempDir()
	out := filepath.Join(dir, "hot.db")
	// A wrong token fails clearly and leaves no file behind.
	cliFails(t, "INVALID_API_KEY", []string{"MEMORYD_ADMIN_TOKEN=nope"}, "backup", "--url", s.base, "--out", out)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed backup left %v", entries)
	}
	msg := cliOK(t, []string{"MEMORYD_ADMIN_TOKEN=" + testAdminToken}, "backup", "--url", s.base, "--out", out)
	if !strings.Contains(msg, "40 live and 1 test memories") {
		t.Fatalf("backup printed %q", msg)
	}
	// Written after the backup: not in it.
	later := s.createMemory(t, key, map[string]any{"text": "written after the backup"})

	rep := verifyFile(t, out)
	if rep["orgs"] != 1 || rep["keys"] != 2 || rep["memories_live"] != 40 || rep["memories_test"] != 1 ||
		rep["history_events"] != 42 || rep["schema_version"] != 1 {
		t.Fatalf("verify report %v", rep)
	}

	cliFails(t, "already holds a memoryd.db", nil, "restore", "--in", out, "--data", s.data)
	restored := filepath.Join(t.TempDir(), "restored")
	cliOK(t, nil, "restore", "--in", out, "--data", restored)

	s2 := startServer(t, restored)
	if s2.firstKey != "" {
		t.Fatal("the restored server created a new default org: the restore looked empty")
	}
	if got, want := s2.memoryIDs(t, key), sorted(ids); !slices.Equal(got, want) {
		t.Fatalf("restored server has %d memories, want the %d backed up", len(got), len(want))
	}
	s2.fails(t, 404, "MEMORY_NOT_FOUND", req{method: "GET", path: "/v1/memories/" + later.ID, key: key})
	var got memoryJSON
	s2.ok(t, 200, req{method: "GET", path: "/v1/memories/" + ids[0], key: key}, &got)
	if got.Text != "the user likes rowing" || got.Version != 2 {
		t.Fatalf("restored memory %+v", got)
	}
	var hist struct {
		Events []map[string]any `json:"events"`
	}
	s2.ok(t, 200, req{method: "GET", path: "/v1/memories/" + ids[0] + "/history", key: key}, &hist)
	if len(hist.Events) != 2 || hist.Events[1]["event"] != "UPDATE" {
		t.Fatalf("restored history %v", hist.Events)
	}
	s2.ok(t, 200, req{method: "GET", path: "/v1/memories/" + sandbox.ID, key: testKey.Key}, nil)
}

// A stopped server's folder is backed up from disk; while it runs, that is refused
// with a message that says what to do.
func TestOfflineBackup(t *testing.T) {
	s := startServer(t, "")
	key := s.firstKey
	ids := fill(t, s, key, 25, "the user works in logistics", "u_1")
	out := filepath.Join(t.TempDir(), "offline.db")

	cliFails(t, "in use by a running server: stop it first", nil, "backup", "--data", s.data, "--out", out)
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused backup wrote its file")
	}
	s.stop()

	cliFails(t, "either --data DIR", nil, "backup", "--out", out)
	cliFails(t, "no memoryd.db", nil, "backup", "--data", t.TempDir(), "--out", out)
	cliOK(t, nil, "backup", "--data", s.data, "--out", out)
	if rep := verifyFile(t, out); rep["memories_live"] != 25 || rep["orgs"] != 1 {
		t.Fatalf("verify report %v", rep)
	}

	restored := t.TempDir()
	cliOK(t, nil, "restore", "--in", out, "--data", restored)
	s2 := startServer(t, restored)
	if got := s2.memoryIDs(t, key); !slices.Equal(got, sorted(ids)) {
		t.Fatalf("restored %d memories, want %d", len(got), len(ids))
	}

	// A damaged backup is refused before anything is written.
	raw, _ := os.ReadFile(out)
	bad := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(bad, raw[:len(raw)/2], 0o600)
	cliFails(t, "damaged", nil, "verify", "--in", bad)
	empty := filepath.Join(t.TempDir(), "data")
	cliFails(t, "damaged", nil, "restore", "--in", bad, "--data", empty)
	if _, err := os.Stat(filepath.Join(empty, "memoryd.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("restore of a damaged backup wrote memoryd.db")
	}
}

// Compact is refused beside a running server; on a stopped one it shrinks the file
// after deletes and the server finds every remaining memory.
func TestCompactData(t *testing.T) {
	s := startServer(t, "")
	key := s.firstKey
	keep := fill(t, s, key, 30, "kept memory", "u_keep")
	long := strings.Repeat("filler text that makes the doomed memories large ", 60)
	var doomed []string
	for i := 0; i < 3; i++ {
		doomed = append(doomed, fill(t, s, key, 100, long, "u_gone")...)
	}
	// The doomed org's data goes entirely, history included.
	org, orgKey := s.newOrg(t, "doomed", "enterprise")
	fill(t, s, orgKey, 200, long, "u_1")
	s.ok(t, 200, req{method: "DELETE", path: "/v1/admin/orgs/" + org.ID, key: testAdminToken}, nil)
	var gone struct {
		Deleted int `json:"deleted"`
	}
	s.ok(t, 200, req{method: "DELETE", path: "/v1/memories?confirm=true&user_id=u_gone", key: key}, &gone)
	if gone.Deleted != len(doomed) {
		t.Fatalf("deleted %d memories, want %d", gone.Deleted, len(doomed))
	}

	cliFails(t, "in use by a running server: stop it first", nil, "compact", "--data", s.data)
	s.stop()

	dbPath := filepath.Join(s.data, "memoryd.db")
	before, _ := os.Stat(dbPath)
	msg := cliOK(t, nil, "compact", "--data", s.data)
	after, _ := os.Stat(dbPath)
	if !strings.Contains(msg, "compacted") || after.Size() >= before.Size() {
		t.Fatalf("compact printed %q; file %d -> %d bytes", msg, before.Size(), after.Size())
	}
	if _, err := os.Stat(dbPath + ".bak"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("compact left memoryd.db.bak after a successful swap")
	}

	s2 := startServer(t, s.data)
	if got := s2.memoryIDs(t, key); !slices.Equal(got, sorted(keep)) {
		t.Fatalf("after compact %d memories, want %d", len(got), len(keep))
	}
	s2.fails(t, 404, "MEMORY_NOT_FOUND", req{method: "GET", path: "/v1/memories/" + doomed[0], key: key})
	var hist struct {
		Events []map[string]any `json:"events"`
	}
	s2.ok(t, 200, req{method: "GET", path: "/v1/memories/" + doomed[0] + "/history", key: key}, &hist)
	if len(hist.Events) != 2 || hist.Events[1]["event"] != "DELETE" {
		t.Fatalf("history of a deleted memory after compact: %v", hist.Events)
	}
	// New writes after compaction still work.
	s2.createMemory(t, key, map[string]any{"text": "after compaction"})
}
