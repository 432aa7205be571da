package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The README's quickstart curl lines work as printed (against this test's port).
func TestReadmeQuickstart(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)<!-- quickstart -->\\s*```sh\\n(.*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("README has no quickstart block")
	}
	// Join continued lines, keep the curl commands.
	script := strings.ReplaceAll(string(block[1]), "\\\n", " ")
	var cmds []string
	for _, line := range strings.Split(script, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "curl ") {
			cmds = append(cmds, line)
		}
	}
	if len(cmds) < 3 {
		t.Fatalf("quickstart has %d curl lines", len(cmds))
	}
	s := startServer(t, "")
	if s.firstKey == "" {
		t.Fatal("no first-start key")
	}
	for _, c := range cmds {
		c = strings.ReplaceAll(c, "http://127.0.0.1:8080", s.base)
		cmd := exec.Command("sh", "-c", c)
		cmd.Env = append(os.Environ(), "MEMORYD_KEY="+s.firstKey)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"success":true`) {
			t.Fatalf("%s\n→ %v\n%s", c, err, out)
		}
	}
	if n := s.countMemories(t, s.firstKey); n != 1 {
		t.Fatalf("quickstart left %d memories, want 1", n)
	}
}
