package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// The server runs one Go processor more than the cores it was given, the one left
// free by the search workers (main.searchSlots); an explicit GOMAXPROCS is kept.
func TestSchedulerProcessors(t *testing.T) {
	procs := func(s *server) string {
		r := s.do(t, req{method: "GET", path: "/metrics"})
		for _, line := range strings.Split(string(r.Raw), "\n") {
			if v, ok := strings.CutPrefix(line, "go_sched_gomaxprocs_threads "); ok {
				return v
			}
		}
		t.Fatalf("/metrics has no go_sched_gomaxprocs_threads")
		return ""
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// This process has the default the server starts from: same machine and limits.
		if got, want := procs(startServer(t, "")), fmt.Sprint(runtime.GOMAXPROCS(0)+1); got != want {
			t.Errorf("default: GOMAXPROCS %s, want %s (cores + 1)", got, want)
		}
	}
	if got := procs(startServer(t, "", "GOMAXPROCS=3")); got != "3" {
		t.Errorf("GOMAXPROCS=3 in the environment: the server runs %s", got)
	}
}
