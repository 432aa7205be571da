// Command bench measures memoryd through its public API, as a customer sees it.
//
//	go run ./bench locomo -data ../shared/datasets/locomo-dev   # retrieval quality
//	go run ./bench scale -memories 100000 -clients 8             # retrieval latency
//	go run ./bench floor -clients 8                               # this machine's floor
//
// Without -url it builds nothing: it starts bin/memoryd (make build) on a temporary
// data folder with an operator token and creates an enterprise org with lifted limits.
// With -url and -key it uses a running server.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench locomo|scale|soak|floor [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "locomo":
		err = runLocomo(os.Args[2:])
	case "scale":
		err = runScale(os.Args[2:])
	case "soak":
		err = runSoak(os.Args[2:])
	case "floor":
		err = runFloor(os.Args[2:])
	case "floor-server": // started by floor
		err = runFloorServer(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// target is the server under test and a key of an org on it.
type target struct {
	base, key string
	admin     string // the operator token, when the bench started the server
	client    *http.Client
	stop      func()
}

// connect uses -url/-key, or starts bin/memoryd itself.
func connect(url, key, bin string) (*target, error) {
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	if url != "" {
		if key == "" {
			return nil, errors.New("-key is required with -url")
		}
		return &target{base: strings.TrimRight(url, "/"), key: key, client: client, stop: func() {}}, nil
	}
	data, err := os.MkdirTemp("", "memoryd-bench")
	if err != nil {
		return nil, err
	}
	const token = "bench-admin-token-0123456789"
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", data)
	cmd.Env = append(os.Environ(), "MEMORYD_ADMIN_TOKEN="+token, "MEMORYD_LOG_LEVEL=warn")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (run make build first): %w", bin, err)
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(data) }
	sc := bufio.NewScanner(out)
	re := regexp.MustCompile(`listening on (http://\S+)`)
	base := ""
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if base == "" {
		stop()
		return nil, errors.New("server did not start")
	}
	t := &target{base: base, key: token, admin: token, client: client, stop: stop}
	var created struct {
		Org    struct{ ID string }  `json:"org"`
		APIKey struct{ Key string } `json:"api_key"`
	}
	if err := t.call("POST", "/v1/admin/orgs", map[string]any{"name": "bench", "plan": "enterprise"}, &created); err != nil {
		stop()
		return nil, err
	}
	lifted := map[string]any{"limits": map[string]any{"requests_per_minute": 100_000_000, "requests_per_day": 100_000_000, "concurrent": 1000}}
	if err := t.call("PATCH", "/v1/admin/orgs/"+created.Org.ID, lifted, nil); err != nil {
		stop()
		return nil, err
	}
	t.key = created.APIKey.Key
	// Wait for /readyz.
	for i := 0; i < 100; i++ {
		if resp, err := client.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return t, nil
}

// call sends a JSON request and decodes the envelope's data into out.
func (t *target) call(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, t.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Data, out)
}

// serverCPU reads the server's CPU seconds so far from /metrics (with the operator
// token when the bench started the server); ok is false when it cannot.
func (t *target) serverCPU() (float64, bool) {
	m, ok := t.scrapeMetrics()
	if !ok {
		return 0, false
	}
	return cpuSeconds(m)
}

// scrapeMetrics returns the server's /metrics text; ok is false when it cannot.
func (t *target) scrapeMetrics() ([]byte, bool) {
	req, err := http.NewRequest("GET", t.base+"/metrics", nil)
	if err != nil {
		return nil, false
	}
	if t.admin != "" {
		req.Header.Set("Authorization", "Bearer "+t.admin)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, false
	}
	return raw, true
}

// cpuSeconds is process_cpu_seconds_total in a /metrics text.
func cpuSeconds(metrics []byte) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(metrics))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f, true
			}
		}
	}
	return 0, false
}

// percentiles returns p50, p95, p99 and max of the durations.
func percentiles(d []time.Duration) (p50, p95, p99, pmax time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return at(0.50), at(0.95), at(0.99), d[len(d)-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func defaultBin() string {
	if p, err := filepath.Abs("bin/memoryd"); err == nil {
		return p
	}
	return "bin/memoryd"
}

func flags(name string) (*flag.FlagSet, *string, *string, *string) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	url := fs.String("url", "", "a running server (default: start bin/memoryd)")
	key := fs.String("key", "", "API key with -url")
	bin := fs.String("bin", defaultBin(), "memoryd binary to start without -url")
	return fs, url, key, bin
}
