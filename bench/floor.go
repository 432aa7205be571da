package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The floor mode measures what the machine itself allows: the latency a Go net/http
// server has when its handler does nothing but burn a fixed amount of CPU, under the
// same closed-loop load as the scale mode (the same raw client, clients and cores).
// It answers "how fast must memoryd be for this budget on this machine": with 8
// clients on 2 shared cores, the p99 of even an empty handler is set by queueing and
// by how the Go scheduler and the kernel share the cores, not by the handler alone.
//
//	go run ./bench floor -clients 8 -work 0,100,250,500,750

// runFloor starts a burner server (this binary, mode floor-server) and measures each
// work level in turn.
func runFloor(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	clients := fs.Int("clients", 8, "concurrent clients")
	requests := fs.Int("requests", 12000, "requests per work level")
	work := fs.String("work", "0,100,250,500,750", "CPU work per request in microseconds, comma-separated")
	procs := fs.Int("procs", 0, "GOMAXPROCS of the server (0: Go's default, the cores)")
	slots := fs.Int("slots", 0, "burn in at most this many requests at once, waiting in arrival order, each on its request's goroutine (0: no limit)")
	workers := fs.Int("workers", 0, "burn on this many worker goroutines, each locked to an OS thread, taking requests in arrival order (0: none); -procs 4 -workers 2 schedules as memoryd does on 2 cores")
	_ = fs.Parse(args)
	levels, err := parseLevels(*work)
	if err != nil {
		return err
	}
	if *slots < 0 || *procs < 0 || *workers < 0 {
		return errors.New("-slots, -workers and -procs must not be negative")
	}
	if *slots > 0 && *workers > 0 {
		return errors.New("-slots and -workers are two ways to schedule the burning: give one")
	}
	if *clients < 1 || *requests < *clients {
		return errors.New("-clients must be at least 1 and -requests at least -clients")
	}
	base, stop, err := startFloorServer(*procs, *slots, *workers)
	if err != nil {
		return err
	}
	defer stop()
	sched := "Go's default scheduling"
	switch {
	case *workers > 0:
		sched = fmt.Sprintf("GOMAXPROCS %d, %d burn workers (0: Go's default)", *procs, *workers)
	case *procs > 0 || *slots > 0:
		sched = fmt.Sprintf("GOMAXPROCS %d, %d burn slots (0: no limit)", *procs, *slots)
	}
	fmt.Printf("floor: a Go %s net/http server whose handler only burns CPU (%s); %d closed-loop clients; %d cores\n",
		runtime.Version(), sched, *clients, runtime.NumCPU())
	for _, us := range levels {
		r, err := measureFloor(base, us, *clients, *requests)
		if err != nil {
			return err
		}
		fmt.Println(r)
	}
	return nil
}

// floorResult is one work level's measurement.
type floorResult struct {
	work                       int // µs burnt per request
	requests                   int
	wall                       time.Duration
	p50, p95, p99, pmax        time.Duration
	serverCPU, generatorCPU    time.Duration // in all
	serverCPUKnown, selfCPUSet bool
}

func (r floorResult) String() string {
	line := fmt.Sprintf("work %4d µs: %6.0f requests/s   p50 %s   p95 %s   p99 %s   max %s",
		r.work, float64(r.requests)/r.wall.Seconds(), ms(r.p50), ms(r.p95), ms(r.p99), ms(r.pmax))
	if r.serverCPUKnown && r.selfCPUSet {
		n := float64(r.requests)
		line += fmt.Sprintf("   CPU per request: server %.3f ms, load generator %.3f ms",
			r.serverCPU.Seconds()*1000/n, r.generatorCPU.Seconds()*1000/n)
	}
	return line
}

// measureFloor sends requests requests, each asking base to burn us microseconds,
// from clients closed-loop clients, and checks every answer.
func measureFloor(base string, us, clients, requests int) (floorResult, error) {
	host := strings.TrimPrefix(base, "http://")
	reqs := make([][][]byte, clients)
	req := buildRequest(host, "/work/"+strconv.Itoa(us), "", []byte("{}"))
	for c := range reqs {
		reqs[c] = make([][]byte, requests/clients)
		for i := range reqs[c] {
			reqs[c][i] = req
		}
	}
	cpu0, err0 := floorServerCPU(base)
	self0 := selfCPU()
	lat, wall, err := closedLoop(base, reqs, func(_, _ int, body []byte) error {
		if !strings.HasPrefix(string(body), `{"burnt_us":`+strconv.Itoa(us)+`,`) {
			return fmt.Errorf("unexpected answer %q", body)
		}
		return nil
	})
	if err != nil {
		return floorResult{}, fmt.Errorf("POST /work/%d %w", us, err)
	}
	self1 := selfCPU()
	cpu1, err1 := floorServerCPU(base)
	r := floorResult{work: us, requests: len(lat), wall: wall, serverCPU: cpu1 - cpu0, generatorCPU: self1 - self0,
		serverCPUKnown: err0 == nil && err1 == nil && cpu1 > 0, selfCPUSet: self1 > 0}
	r.p50, r.p95, r.p99, r.pmax = percentiles(lat)
	return r, nil
}

// parseLevels reads "0,100,250" as microseconds of work.
func parseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		us, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || us < 0 || us > 1_000_000 {
			return nil, fmt.Errorf("-work: %q is not a number of microseconds from 0 to 1000000", f)
		}
		out = append(out, us)
	}
	return out, nil
}

// startFloorServer runs this binary in mode floor-server (GOMAXPROCS=procs when procs
// is positive; slots burn slots or workers burn workers) and returns its base URL.
func startFloorServer(procs, slots, workers int) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "floor-server", strconv.Itoa(slots), strconv.Itoa(workers))
	cmd.Env = os.Environ()
	if procs > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	sc := bufio.NewScanner(out)
	re := regexp.MustCompile(`listening on (http://\S+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return m[1], stop, nil
		}
	}
	stop()
	return "", nil, errors.New("floor server did not start")
}

// runFloorServer is the burner: POST /work/{us} burns that many microseconds of CPU
// (a calibrated loop, not a clock: a thread the kernel pauses does not burn less),
// and GET /cpu answers the process's CPU time in nanoseconds. args are the number of
// burn slots and of burn workers.
func runFloorServer(args []string) error {
	var counts [2]int // slots, workers
	for i, a := range args[:min(len(args), 2)] {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 {
			return fmt.Errorf("floor-server: %q is not a count", a)
		}
		counts[i] = n
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("floor server listening on http://%s\n", ln.Addr())
	return http.Serve(ln, floorHandler(calibrateBurn(), counts[0], counts[1]))
}

// burnTask is one request's burning, handed to a burn worker.
type burnTask struct {
	rounds int
	x      chan uint64
}

// floorHandler serves the burner's two routes, burning perMicro loop rounds a µs: on
// each request's goroutine, in at most slots requests at once when slots is positive
// (a channel: its waiters are woken in arrival order); or, when workers is positive,
// on that many goroutines locked to OS threads of their own, taking the requests in
// arrival order, as memoryd's search workers do (memory.searchPool).
func floorHandler(perMicro, slots, workers int) http.Handler {
	var gate chan struct{}
	if slots > 0 {
		gate = make(chan struct{}, slots)
	}
	var tasks chan burnTask
	if workers > 0 {
		tasks = make(chan burnTask, 1024)
		for range workers {
			go func() {
				runtime.LockOSThread()
				for t := range tasks {
					t.x <- burn(t.rounds)
				}
			}()
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /work/{us}", func(w http.ResponseWriter, r *http.Request) {
		us, err := strconv.Atoi(r.PathValue("us"))
		if err != nil || us < 0 || us > 1_000_000 {
			http.Error(w, "work: microseconds from 0 to 1000000", http.StatusBadRequest)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		var x uint64
		switch {
		case tasks != nil:
			t := burnTask{rounds: us * perMicro, x: make(chan uint64, 1)}
			tasks <- t
			x = <-t.x
		case gate != nil:
			gate <- struct{}{}
			x = burn(us * perMicro)
			<-gate
		default:
			x = burn(us * perMicro)
		}
		// The loop's result is answered, so the compiler cannot drop the loop.
		body := fmt.Sprintf(`{"burnt_us":%d,"x":%d}`, us, x)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body)
	})
	mux.HandleFunc("GET /cpu", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strconv.FormatInt(int64(selfCPU()), 10))
	})
	return mux
}

// floorServerCPU asks the burner for its CPU time so far.
func floorServerCPU(base string) (time.Duration, error) {
	resp, err := http.Get(base + "/cpu")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(string(raw), 10, 64)
	return time.Duration(ns), err
}

// burn runs n rounds of a xorshift generator and returns its state.
func burn(n int) uint64 {
	x := uint64(88172645463325252)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

var calibrated uint64

// calibrateBurn measures burn's rounds per microsecond: the best of several timed
// runs, as an idle core would do them.
func calibrateBurn() int {
	const rounds = 1 << 20
	best := time.Duration(1<<63 - 1)
	var x uint64
	for range 20 {
		t0 := time.Now()
		x ^= burn(rounds)
		best = min(best, time.Since(t0))
	}
	calibrated = x // kept, so the timed loops cannot be dropped
	return max(1, int(rounds/max(1, best.Microseconds())))
}
