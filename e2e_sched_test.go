package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// The server runs more Go processors than the cores it was given: one for the network
// beside the search workers, and the garbage collector's share (main.searchWorkers); an
// explicit GOMAXPROCS is kept.
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
		if got, want := procs(startServer(t, "")), fmt.Sprint(schedulerProcs(runtime.GOMAXPROCS(0))); got != want {
			t.Errorf("default: GOMAXPROCS %s, want %s (for %d cores)", got, want, runtime.GOMAXPROCS(0))
		}
	}
	if got := procs(startServer(t, "", "GOMAXPROCS=3")); got != "3" {
		t.Errorf("GOMAXPROCS=3 in the environment: the server runs %s", got)
	}
}

// Every worker count leaves a processor free of workers and of the collector's
// background marking (a quarter of the processors: whole ones, and a part of another
// for the fraction, counted whole since it can take any processor), and no more than
// needed.
func TestSchedulerProcs(t *testing.T) {
	gcWorkers := func(p int) int { return (p + 3) / 4 }
	for workers, want := range map[int]int{1: 3, 2: 4, 4: 7, 8: 12, 16: 23} {
		if got := schedulerProcs(workers); got != want {
			t.Errorf("%d workers: %d processors, want %d", workers, got, want)
		}
	}
	for w := 1; w <= 256; w++ {
		p := schedulerProcs(w)
		if p-w-gcWorkers(p) < 1 || p-1-w-gcWorkers(p-1) >= 1 {
			t.Errorf("%d workers: %d processors", w, p)
		}
	}
}
