package main

// The fault suite: crashes at random moments, a full disk, a damaged index snapshot,
// a backup taken under write load, and a graceful stop under load. Each drives the
// real binary and checks what a customer would see afterwards.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"memoryd/store"
)

// rawCall sends one JSON request outside the test's helpers (which fail the test on a
// transport error): for load generators racing a kill or a stop.
func rawCall(client *http.Client, method, url, key string, body any) (int, []byte, error) {
	var rd *bytes.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	var hr *http.Request
	if rd != nil {
		hr, _ = http.NewRequest(method, url, rd)
		hr.Header.Set("Content-Type", "application/json")
	} else {
		hr, _ = http.NewRequest(method, url, nil)
	}
	hr.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(hr)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes(), err
}

func dataOf(raw []byte, v any) error {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Data, v)
}

// liftLimits removes the org's rate limits, so load tests measure the server, not
// the plan.
func (s *server) liftLimits(t *testing.T, orgID string) {
	t.Helper()
	s.ok(t, 200, req{method: "PATCH", path: "/v1/admin/orgs/" + orgID, key: testAdminToken, body: map[string]any{
		"limits": map[string]any{"requests_per_minute": 100_000_000, "requests_per_day": 100_000_000, "concurrent": 1000}}}, nil)
}

// expected is what a writer was told about one memory: its acknowledged text (""
// once deleted), and a write in flight when the server died, which may or may not
// have landed.
type expected struct {
	text, pending string
	deleted       bool
	pendingDelete bool
	inFlight      bool
}

// SIGKILL at a random moment of mixed writes (creates, updates, deletes, batches),
// 20 times over on one data folder: after every restart each acknowledged write is
// there, and the store passes the verify check.
func TestFaultSIGKILLRounds(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	org, key := s.newOrg(t, "crashy", "enterprise")
	s.liftLimits(t, org.ID)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	state := map[string]*expected{}
	var mu sync.Mutex
	client := &http.Client{Timeout: 5 * time.Second}
	acked := 0

	for round := 0; round < 20; round++ {
		if round > 0 {
			s = startServer(t, data)
		}
		const writers = 4
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				r := rand.New(rand.NewSource(int64(round*100 + w)))
				var mine []string // ids this writer created and has not deleted
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					text := fmt.Sprintf("round %d writer %d op %d", round, w, i)
					switch op := r.Intn(10); {
					case op < 5 || len(mine) == 0: // create, one or a batch
						n := 1
						if op == 4 {
							n = 10
						}
						items := make([]map[string]any, n)
						for j := range items {
							items[j] = map[string]any{"text": fmt.Sprintf("%s item %d", text, j)}
						}
						code, raw, err := rawCall(client, "POST", s.base+"/v1/batch/memories", key, map[string]any{"memories": items})
						if err != nil || code != 201 {
							return // the server is gone
						}
						var out struct {
							Memories []memoryJSON `json:"memories"`
						}
						if dataOf(raw, &out) != nil {
							return
						}
						mu.Lock()
						for _, m := range out.Memories {
							state[m.ID] = &expected{text: m.Text}
							mine = append(mine, m.ID)
							acked++
						}
						mu.Unlock()
					case op < 8: // update
						id := mine[r.Intn(len(mine))]
						mu.Lock()
						state[id].pending, state[id].inFlight = text+" updated", true
						mu.Unlock()
						code, _, err := rawCall(client, "PUT", s.base+"/v1/memories/"+id, key, map[string]any{"text": text + " updated"})
						if err != nil || code != 200 {
							return // stays in flight: either text is fine
						}
						mu.Lock()
						state[id].text, state[id].inFlight = text+" updated", false
						acked++
						mu.Unlock()
					default: // delete
						k := r.Intn(len(mine))
						id := mine[k]
						mu.Lock()
						state[id].pendingDelete, state[id].inFlight = true, true
						mu.Unlock()
						code, _, err := rawCall(client, "DELETE", s.base+"/v1/memories/"+id, key, nil)
						if err != nil || code != 200 {
							return
						}
						mu.Lock()
						state[id].deleted, state[id].inFlight = true, false
						acked++
						mu.Unlock()
						mine = slices.Delete(mine, k, k+1)
					}
				}
			}(w)
		}
		time.Sleep(time.Duration(150+rng.Intn(350)) * time.Millisecond)
		s.kill()
		close(stop)
		wg.Wait()

		// The killed server's file is consistent: bbolt's page check and the layout
		// check of `memoryd verify` pass.
		if _, err := store.Verify(filepath.Join(data, store.FileName)); err != nil {
			t.Fatalf("round %d: store after SIGKILL: %v", round, err)
		}
	}

	s = startServer(t, data)
	got := map[string]string{}
	cursor := ""
	for {
		var page struct {
			Memories   []memoryJSON `json:"memories"`
			NextCursor *string      `json:"next_cursor"`
		}
		path := "/v1/memories?limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		s.ok(t, 200, req{method: "GET", path: path, key: key}, &page)
		for _, m := range page.Memories {
			got[m.ID] = m.Text
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	for id, e := range state {
		text, present := got[id]
		switch {
		case e.deleted && present:
			t.Fatalf("memory %s was deleted (acknowledged) but is back: %q", id, text)
		case e.deleted:
		case !present && !(e.inFlight && e.pendingDelete):
			t.Fatalf("acknowledged memory %s is lost", id)
		case present && text != e.text && !(e.inFlight && text == e.pending):
			t.Fatalf("memory %s has %q, want the acknowledged %q", id, text, e.text)
		}
	}
	if len(got) > len(state) {
		t.Fatalf("%d memories listed, but only %d were ever acknowledged", len(got), len(state))
	}
	t.Logf("20 SIGKILL rounds: %d writes acknowledged, %d memories tracked, all present as acknowledged; verify passed after every kill", acked, len(state))
}

// mountTmpfs mounts a small tmpfs at dir, or skips the test where mounting is not
// allowed (not root, or in a container without the capability).
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s): the full-disk test needs root", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// A full disk: writes fail with 503 SERVICE_UNAVAILABLE and change nothing, reads go
// on working, and once there is room again writes succeed without a restart. The
// store stays sound throughout.
func TestFaultDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	data := t.TempDir()
	mountTmpfs(t, data, "6m")
	s := startServer(t, data)
	org, key := s.newOrg(t, "full", "enterprise")
	s.liftLimits(t, org.ID)
	first := s.createMemory(t, key, map[string]any{"text": "the user collects antique maps"})

	big := strings.Repeat("a long memory that fills the disk quickly ", 700) // ~29 KiB
	items := make([]map[string]any, 20)
	for i := range items {
		items[i] = map[string]any{"text": fmt.Sprintf("%d %s", i, big)}
	}
	full := false
	written := 1
	for i := 0; i < 100 && !full; i++ {
		r := s.do(t, req{method: "POST", path: "/v1/batch/memories", key: key, body: map[string]any{"memories": items}})
		switch {
		case r.Status == 201:
			written += len(items)
		case r.Status == 503 && r.Env.Error != nil && r.Env.Error.Code == "SERVICE_UNAVAILABLE":
			full = true
		default:
			t.Fatalf("batch write on a filling disk: %d %s", r.Status, r.Raw)
		}
	}
	if !full {
		t.Fatal("the disk never filled")
	}
	// Single writes fail the same way; reads work.
	s.fails(t, 503, "SERVICE_UNAVAILABLE", req{method: "POST", path: "/v1/batch/memories", key: key, body: map[string]any{"memories": items}})
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + first.ID, key: key}, nil)
	if n := s.countMemories(t, key); n != written {
		t.Fatalf("after refused writes %d memories, want the %d acknowledged", n, written)
	}
	if hits := s.retrieve(t, key, map[string]any{"context": "antique maps", "max_memories": 1}); len(hits) != 1 || hits[0].ID != first.ID {
		t.Fatalf("retrieval on a full disk: %+v", hits)
	}
	s.ok(t, 200, req{method: "GET", path: "/healthz"}, nil)

	// Room again: the same server takes writes.
	if out, err := exec.Command("mount", "-o", "remount,size=64m", data).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	after := s.createMemory(t, key, map[string]any{"text": "written once the disk had room"})
	s.ok(t, 201, req{method: "POST", path: "/v1/batch/memories", key: key, body: map[string]any{"memories": items}}, nil)
	s.stop()
	if _, err := store.Verify(filepath.Join(data, store.FileName)); err != nil {
		t.Fatalf("store after a full disk: %v", err)
	}
	s = startServer(t, data)
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + after.ID, key: key}, nil)
	if n := s.countMemories(t, key); n != written+1+len(items) {
		t.Fatalf("after restart %d memories, want %d", n, written+1+len(items))
	}
	t.Logf("disk filled after %d memories; writes answered 503, reads worked; after remount writes succeeded and verify passed", written)
}

// waitReady waits for /readyz: indexes are loaded.
func (s *server) waitReady(t *testing.T) {
	t.Helper()
	for i := 0; i < 200; i++ {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("server never became ready")
}

// A damaged index snapshot is detected at start and rebuilt from the store; the next
// clean stop writes a sound one, which the start after loads; deleting the org removes
// its snapshot file.
func TestFaultCorruptIndexSnapshot(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	org, key := s.newOrg(t, "snapshotted", "enterprise")
	ids := fill(t, s, key, 400, "the user has a parrot called number", "u_1") // past the HNSW crossover
	target := s.createMemory(t, key, map[string]any{"text": "the user flies gliders over the alps"})
	s.stop()
	snap := filepath.Join(data, "indexes", org.ID+"_live.vec")
	raw, err := os.ReadFile(snap)
	if err != nil {
		t.Fatalf("no snapshot after a clean stop: %v", err)
	}
	for i := len(raw) / 3; i < len(raw)/3+64 && i < len(raw); i++ {
		raw[i] ^= 0xff
	}
	if err := os.WriteFile(snap, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	s = startServer(t, data)
	s.waitReady(t)
	if !strings.Contains(s.stderr.String(), "index snapshot unusable: rebuilding") {
		t.Fatalf("a damaged snapshot was not reported; stderr:\n%s", s.stderr.String())
	}
	if hits := s.retrieve(t, key, map[string]any{"context": "gliders over the alps", "max_memories": 1}); len(hits) != 1 || hits[0].ID != target.ID {
		t.Fatalf("retrieval after rebuild: %+v", hits)
	}
	if n := s.countMemories(t, key); n != len(ids)+1 {
		t.Fatalf("%d memories after rebuild", n)
	}
	s.stop()

	s = startServer(t, data)
	s.waitReady(t)
	if strings.Contains(s.stderr.String(), "rebuilding") {
		t.Fatalf("the rewritten snapshot was not loaded; stderr:\n%s", s.stderr.String())
	}
	if hits := s.retrieve(t, key, map[string]any{"context": "gliders over the alps", "max_memories": 1}); len(hits) != 1 || hits[0].ID != target.ID {
		t.Fatalf("retrieval from the snapshot: %+v", hits)
	}
	s.ok(t, 200, req{method: "DELETE", path: "/v1/admin/orgs/" + org.ID, key: testAdminToken}, nil)
	if _, err := os.Stat(snap); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the deleted org's snapshot is still there: %v", err)
	}
}

// A hot backup taken while writers run restores to a store that holds every memory
// acknowledged before the backup began, each as acknowledged, and nothing that was
// never written.
func TestFaultBackupUnderLoad(t *testing.T) {
	s := startServer(t, "")
	org, key := s.newOrg(t, "busy", "enterprise")
	s.liftLimits(t, org.ID)
	client := &http.Client{Timeout: 10 * time.Second}
	var (
		mu    sync.Mutex
		acked = map[string]string{}
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("writer %d memory %d", w, i)
				code, raw, err := rawCall(client, "POST", s.base+"/v1/memories", key, map[string]any{"text": text})
				var m memoryJSON
				if err != nil || code != 201 || dataOf(raw, &m) != nil {
					t.Errorf("write under backup load: %d %v %s", code, err, raw)
					return
				}
				mu.Lock()
				acked[m.ID] = text
				mu.Unlock()
			}
		}(w)
	}
	time.Sleep(400 * time.Millisecond)
	mu.Lock()
	before := make(map[string]string, len(acked))
	for id, text := range acked {
		before[id] = text
	}
	mu.Unlock()
	out := filepath.Join(t.TempDir(), "busy.db")
	cliOK(t, []string{"MEMORYD_ADMIN_TOKEN=" + testAdminToken}, "backup", "--url", s.base, "--out", out)
	time.Sleep(200 * time.Millisecond) // writes go on after the backup too
	close(stop)
	wg.Wait()

	restored := filepath.Join(t.TempDir(), "restored")
	cliOK(t, nil, "restore", "--in", out, "--data", restored)
	s2 := startServer(t, restored)
	got := s2.memoryIDs(t, key)
	in := map[string]bool{}
	for _, id := range got {
		in[id] = true
	}
	for id, text := range before {
		if !in[id] {
			t.Fatalf("memory %s, acknowledged before the backup began, is not in it", id)
		}
		var m memoryJSON
		s2.ok(t, 200, req{method: "GET", path: "/v1/memories/" + id, key: key}, &m)
		if m.Text != text {
			t.Fatalf("restored %s has %q, want %q", id, m.Text, text)
		}
	}
	for _, id := range got {
		if _, ok := acked[id]; !ok {
			t.Fatalf("restored memory %s was never acknowledged", id)
		}
	}
	t.Logf("%d acknowledged before the backup, %d in it, %d acknowledged in all", len(before), len(got), len(acked))
}

// SIGTERM under load: requests in flight finish with their answers, read usage
// buffered in memory is flushed, and the process exits 0 within the shutdown timeout.
func TestFaultGracefulShutdownUnderLoad(t *testing.T) {
	data := t.TempDir()
	const timeout = 5 * time.Second
	s := startServer(t, data, "MEMORYD_SERVER_SHUTDOWN_TIMEOUT=5s")
	org, key := s.newOrg(t, "draining", "enterprise")
	s.liftLimits(t, org.ID)
	seed := fill(t, s, key, 50, "the user likes sourdough bread", "u_1")
	client := &http.Client{Timeout: 20 * time.Second}
	var (
		mu       sync.Mutex
		answered int64 // API calls answered 2xx: each is one usage event
		created  []string
		wg       sync.WaitGroup
		late     atomic.Int64
	)
	stopping := make(chan struct{})
	worker := func(op func() (int, []byte, error), onOK func([]byte)) {
		defer wg.Done()
		for {
			code, raw, err := op()
			if err != nil {
				select {
				case <-stopping: // refused after the listener closed: never in flight
					late.Add(1)
					return
				default:
					t.Errorf("request failed before SIGTERM: %v", err)
					return
				}
			}
			if code/100 != 2 {
				t.Errorf("answer %d during shutdown: %s", code, raw)
				return
			}
			mu.Lock()
			answered++
			mu.Unlock()
			if onOK != nil {
				onOK(raw)
			}
		}
	}
	for w := 0; w < 3; w++ {
		wg.Add(2)
		go worker(func() (int, []byte, error) {
			return rawCall(client, "POST", s.base+"/v1/retrieve", key, map[string]any{"context": "bread"})
		}, nil)
		go worker(func() (int, []byte, error) {
			return rawCall(client, "GET", s.base+"/v1/memories/"+seed[w], key, nil)
		}, nil)
	}
	// Large batches, so some are certainly in flight when the signal comes.
	batch := make([]map[string]any, 1000)
	for i := range batch {
		batch[i] = map[string]any{"text": fmt.Sprintf("batched memory %d about baking", i)}
	}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go worker(func() (int, []byte, error) {
			return rawCall(client, "POST", s.base+"/v1/batch/memories", key, map[string]any{"memories": batch})
		}, func(raw []byte) {
			var out struct {
				Memories []memoryJSON `json:"memories"`
			}
			_ = dataOf(raw, &out)
			mu.Lock()
			for _, m := range out.Memories {
				created = append(created, m.ID)
			}
			mu.Unlock()
		})
	}
	time.Sleep(700 * time.Millisecond)
	close(stopping)
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(timeout + 5*time.Second):
		t.Fatalf("no exit within the %s shutdown timeout", timeout)
	}
	took := time.Since(start)
	wg.Wait()
	if s.exitErr != nil {
		t.Fatalf("exit: %v; stderr:\n%s", s.exitErr, s.stderr.String())
	}
	if took > timeout {
		t.Fatalf("shutdown took %s, past the %s timeout", took, timeout)
	}

	s = startServer(t, data)
	var u struct {
		Usage struct {
			APICalls int64 `json:"api_calls"`
		} `json:"usage"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/usage", key: key}, &u)
	// Every answered call was counted: the seeding batch, and each answered request
	// of the load, whose read events sat in memory until the shutdown flushed them.
	if want := 1 + answered; u.Usage.APICalls != want {
		t.Fatalf("usage counts %d API calls, want %d answered", u.Usage.APICalls, want)
	}
	if n := s.countMemories(t, key); n != len(seed)+len(created) {
		t.Fatalf("%d memories after restart, want %d (%d batches answered)", n, len(seed)+len(created), len(created)/1000)
	}
	t.Logf("SIGTERM with load running: exit 0 in %s; %d calls answered and counted, %d batch memories kept, %d requests refused after close",
		took.Round(time.Millisecond), answered, len(created), late.Load())
}
