package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// docs/quickstart.md followed as a new user would, on a machine with nothing but the
// release binary: in an empty folder, start memoryd with the page's own command, check
// that it prints the banner the page shows, copy the key from it into the page's export
// line, then run every later shell block of the page, in order, in that one shell. Only
// the port differs from the page (8080 may be taken), and the environment holds nothing
// of memoryd's. (The page's `make run` is the same command built from a checkout.)
func TestQuickstartAsANewUser(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	page, err := os.ReadFile("docs/quickstart.md")
	if err != nil {
		t.Fatal(err)
	}
	type block struct{ lang, body string }
	var blocks []block
	for _, m := range regexp.MustCompile("(?ms)^```(\\w*)\\n(.*?)^```\\n").FindAllStringSubmatch(string(page), -1) {
		blocks = append(blocks, block{m[1], m[2]})
	}

	// The fresh machine: an empty folder holding the downloaded binary, a bare environment.
	dir := t.TempDir()
	bin := filepath.Join(dir, "memoryd")
	copyFile(t, binPath, bin)
	port := freePort(t)
	local := func(s string) string { return strings.ReplaceAll(s, "127.0.0.1:8080", "127.0.0.1:"+port) }
	env := []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}

	serve, banner, keyAt := -1, -1, -1
	for i, b := range blocks {
		switch {
		case b.lang == "sh" && strings.HasPrefix(b.body, "./memoryd serve"):
			serve = i
		case b.lang == "" && strings.Contains(b.body, "First start"):
			banner = i
		case b.lang == "sh" && strings.HasPrefix(b.body, "export MEMORYD_KEY=mem_live_..."):
			keyAt = i
		}
	}
	if serve < 0 || banner < serve || keyAt < banner {
		t.Fatalf("quickstart lacks, in order, the serve command (%d), the banner (%d) and the key's export line (%d)", serve, banner, keyAt)
	}

	cmd := exec.Command("bash", "-c", "exec "+local(strings.TrimSpace(blocks[serve].body)))
	cmd.Dir, cmd.Env = dir, env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// What the page shows, with what differs per run (ids, the key, the version) as patterns.
	want := regexp.QuoteMeta(local(blocks[banner].body))
	for _, p := range [][2]string{
		{`org_[0-9a-z]+`, `org_[0-9a-z]{26}`},
		{`mem_live_[A-Za-z0-9]+`, `(mem_live_[A-Za-z0-9]{32})`},
		{`memoryd v[0-9\\.]+`, `memoryd \S+`}, // the version's dots are quoted by now
	} {
		want = regexp.MustCompile(p[0]).ReplaceAllString(want, p[1])
	}
	printed := readUntil(t, stdout, "listening on", 20*time.Second)
	m := regexp.MustCompile("^" + want + "$").FindStringSubmatch(printed)
	if m == nil {
		t.Fatalf("memoryd printed:\n%s\nthe page shows:\n%s", printed, blocks[banner].body)
	}
	key := m[1]
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	script.WriteString(strings.Replace(blocks[keyAt].body, "mem_live_...", key, 1))
	for _, b := range blocks[keyAt+1:] {
		if b.lang == "sh" {
			script.WriteString(local(b.body))
		}
	}
	run := exec.Command("bash", "-c", script.String())
	run.Dir, run.Env = dir, env
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the quickstart's commands failed: %v\n%s\n--- script:\n%s", err, out, script.String())
	}
	if n := strings.Count(string(out), `"success":true`); n < 6 {
		t.Fatalf("%d successful answers, want at least 6:\n%s", n, out)
	}
	// What the page says of the result: two memories of u_42, the nurse first for work,
	// and everything in ./data/memoryd.db.
	if !regexp.MustCompile(`(?s)"memories":\[\{"id":"mem_\w+","text":"User works as a nurse`).Match(out) {
		t.Errorf("retrieval did not put the nurse first:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "memoryd.db")); err != nil {
		t.Errorf("the page says data is kept in ./data/memoryd.db: %v", err)
	}
	t.Logf("%s", out)
}

// readUntil returns what r printed up to and including the line containing marker.
func readUntil(t *testing.T, r io.Reader, marker string, timeout time.Duration) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), marker) {
				break
			}
		}
		done <- b.String()
	}()
	select {
	case s := <-done:
		return s
	case <-time.After(timeout):
		t.Fatalf("no %q within %s", marker, timeout)
		return ""
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
