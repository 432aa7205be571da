package main

// End-to-end tests: they build the real binary, run it on a temporary data folder and
// drive it over HTTP, as a customer would.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const testAdminToken = "test-admin-token-0123456789"

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "memoryd-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if openapiContract, err = loadContract(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "memoryd")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=e2e", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build memoryd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running memoryd process.
type server struct {
	t        *testing.T
	cmd      *exec.Cmd
	base     string
	data     string
	firstKey string // the key printed on first start, if any
	stderr   *syncBuffer
	exited   chan struct{} // closed when the process has exited
	exitErr  error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	listenLine = regexp.MustCompile(`listening on (http://\S+)`)
	keyLine    = regexp.MustCompile(`^\s+(mem_live_[A-Za-z0-9]{32})\s*$`)
)

// startServer runs `memoryd serve` on data (a new temp folder when empty) and waits
// until it listens.
func startServer(t *testing.T, data string, env ...string) *server {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	cmd := exec.Command(binPath, "serve", "--listen", "127.0.0.1:0", "--data", data)
	cmd.Env = append(os.Environ(), "MEMORYD_ADMIN_TOKEN="+testAdminToken)
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, data: data, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exitErr = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() { s.kill() })

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if m := keyLine.FindStringSubmatch(line); m != nil {
				s.firstKey = m[1]
			}
			if m := listenLine.FindStringSubmatch(line); m != nil && !sent {
				ready <- m[1]
				sent = true
			}
		}
		if !sent {
			close(ready)
		}
	}()
	select {
	case base, ok := <-ready:
		if !ok {
			t.Fatalf("memoryd exited before listening; stderr:\n%s", s.stderr.String())
		}
		s.base = base
	case <-time.After(20 * time.Second):
		t.Fatalf("memoryd did not start; stderr:\n%s", s.stderr.String())
	}
	return s
}

// kill ends the process with SIGKILL, as a crash or power loss would.
func (s *server) kill() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.exited:
		if s.exitErr != nil {
			s.t.Fatalf("memoryd exited with %v; stderr:\n%s", s.exitErr, s.stderr.String())
		}
	case <-time.After(20 * time.Second):
		s.t.Fatal("memoryd did not stop on SIGTERM")
	}
}

// reply is a decoded answer.
type reply struct {
	Status int
	Header http.Header
	Raw    []byte
	Env    struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   *struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
		Meta map[string]any `json:"meta"`
	}
}

// data decodes the envelope's data into v.
func (r *reply) data(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Env.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Raw, err)
	}
}

// req describes one call.
type req struct {
	method, path, key string
	body              any // marshalled as JSON; a []byte or string is sent raw
	header            map[string]string
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func (s *server) do(t *testing.T, q req) *reply {
	t.Helper()
	var rd io.Reader
	var sent []byte
	switch b := q.body.(type) {
	case nil:
	case []byte:
		sent = b
	case string:
		sent = []byte(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		sent = raw
	}
	if q.body != nil {
		rd = bytes.NewReader(sent)
	}
	hr, err := http.NewRequest(q.method, s.base+q.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if q.key != "" {
		hr.Header.Set("Authorization", "Bearer "+q.key)
	}
	for k, v := range q.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	resp, err := httpClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer resp.Body.Close()
	out := &reply{Status: resp.StatusCode, Header: resp.Header}
	out.Raw, _ = io.ReadAll(resp.Body)
	openapiContract.check(t, hr, sent, resp.StatusCode, resp.Header, out.Raw)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(out.Raw, &out.Env); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", q.method, q.path, out.Raw)
		}
	}
	return out
}

// ok asserts a success envelope with the status and decodes data into v (if not nil).
func (s *server) ok(t *testing.T, status int, q req, v any) *reply {
	t.Helper()
	r := s.do(t, q)
	if r.Status != status || !r.Env.Success {
		t.Fatalf("%s %s: got %d %s, want %d success", q.method, q.path, r.Status, r.Raw, status)
	}
	checkSuccessMeta(t, r)
	if v != nil {
		r.data(t, v)
	}
	return r
}

func checkSuccessMeta(t *testing.T, r *reply) {
	t.Helper()
	id, _ := r.Env.Meta["request_id"].(string)
	if id == "" || r.Header.Get("X-Request-ID") != id {
		t.Fatalf("meta.request_id %q does not match X-Request-ID %q", id, r.Header.Get("X-Request-ID"))
	}
	if _, ok := r.Env.Meta["processing_time_ms"].(float64); !ok {
		t.Fatalf("meta.processing_time_ms missing: %s", r.Raw)
	}
	u, ok := r.Env.Meta["usage"].(map[string]any)
	if !ok {
		t.Fatalf("meta.usage missing: %s", r.Raw)
	}
	for _, f := range []string{"tokens_processed", "memories_accessed", "model_calls"} {
		if _, ok := u[f].(float64); !ok {
			t.Fatalf("meta.usage.%s missing: %s", f, r.Raw)
		}
	}
}

// fails asserts an error envelope with the status and code, and returns its details.
func (s *server) fails(t *testing.T, status int, code string, q req) map[string]any {
	t.Helper()
	r := s.do(t, q)
	if r.Status != status || r.Env.Success || r.Env.Error == nil || r.Env.Error.Code != code {
		t.Fatalf("%s %s: got %d %s, want %d %s", q.method, q.path, r.Status, r.Raw, status, code)
	}
	if r.Env.Error.Message == "" {
		t.Fatalf("%s %s: error without a message: %s", q.method, q.path, r.Raw)
	}
	id, _ := r.Env.Meta["request_id"].(string)
	if id == "" || r.Header.Get("X-Request-ID") != id {
		t.Fatalf("error meta.request_id %q does not match X-Request-ID %q", id, r.Header.Get("X-Request-ID"))
	}
	if r.Env.Error.Details == nil {
		t.Fatalf("error.details missing: %s", r.Raw)
	}
	return r.Env.Error.Details
}

// Fixtures decoded from answers.
type memoryJSON struct {
	ID        string         `json:"id"`
	Text      string         `json:"text"`
	Metadata  map[string]any `json:"metadata"`
	UserID    *string        `json:"user_id"`
	AgentID   *string        `json:"agent_id"`
	SessionID *string        `json:"session_id"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	Version   int            `json:"version"`
	ExpiresAt *time.Time     `json:"expires_at"`
}

type keyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	Mode       string     `json:"mode"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Key        string     `json:"key"`
}

type orgJSON struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Plan      string         `json:"plan"`
	CreatedAt time.Time      `json:"created_at"`
	Limits    map[string]any `json:"limits"`
}

// newOrg creates an org through the operator API and returns it with its admin key.
func (s *server) newOrg(t *testing.T, name, plan string) (orgJSON, string) {
	t.Helper()
	var out struct {
		Org    orgJSON `json:"org"`
		APIKey keyJSON `json:"api_key"`
	}
	s.ok(t, 201, req{method: "POST", path: "/v1/admin/orgs", key: testAdminToken, body: map[string]any{"name": name, "plan": plan}}, &out)
	return out.Org, out.APIKey.Key
}

// newKey creates a key with the given scopes and mode using an admin key.
func (s *server) newKey(t *testing.T, admin, mode string, scopes ...string) keyJSON {
	t.Helper()
	var out struct {
		APIKey keyJSON `json:"api_key"`
	}
	s.ok(t, 201, req{method: "POST", path: "/v1/account/api-keys", key: admin,
		body: map[string]any{"name": mode + "-" + strings.Join(scopes, "+"), "scopes": scopes, "mode": mode}}, &out)
	return out.APIKey
}

func (s *server) createMemory(t *testing.T, key string, body map[string]any) memoryJSON {
	t.Helper()
	var m memoryJSON
	s.ok(t, 201, req{method: "POST", path: "/v1/memories", key: key, body: body}, &m)
	return m
}

// countMemories lists every memory the key sees.
func (s *server) countMemories(t *testing.T, key string) int {
	t.Helper()
	n, cursor := 0, ""
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
		n += len(page.Memories)
		if page.NextCursor == nil {
			return n
		}
		cursor = *page.NextCursor
	}
}
