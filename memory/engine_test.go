package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"sync"
	"testing"
	"time"

	"memoryd/store"
)

func newEngine(t testing.TB) (*Engine, *store.Store, Tenant) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	org, _, _, err := st.CreateOrgWithAdminKey("e", "enterprise")
	if err != nil {
		t.Fatal(err)
	}
	e := New(st, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return e, st, Tenant{OrgID: org.ID, Mode: store.ModeLive}
}

// Writers and readers of one tenant at once: no race, no deleted memory returned once
// its delete has returned, and at the end the index agrees with the store.
func TestConcurrentWritesAndRetrievals(t *testing.T) {
	e, _, tn := newEngine(t)
	ctx := context.Background()
	var (
		mu      sync.Mutex
		deleted = map[string]bool{}
		wg      sync.WaitGroup
	)
	n := 200
	if testing.Short() {
		n = 60
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			var mine []string
			for i := 0; i < n; i++ {
				switch {
				case len(mine) < 3 || rng.Intn(3) > 0:
					mems, err := e.Create(ctx, tn, []NewMemory{{Text: fmt.Sprintf("writer %d note %d about topic %d", w, i, rng.Intn(10)), UserID: "u"}}, store.Change{Source: "api"})
					if err != nil {
						t.Error(err)
						return
					}
					mine = append(mine, mems[0].ID)
				case rng.Intn(2) == 0:
					id := mine[rng.Intn(len(mine))]
					text := fmt.Sprintf("writer %d rewrote note about topic %d", w, rng.Intn(10))
					if _, err := e.Update(ctx, tn, id, Patch{Text: &text}, store.Change{Source: "api"}); err != nil {
						t.Error(err)
						return
					}
				default:
					j := rng.Intn(len(mine))
					id := mine[j]
					mine = append(mine[:j], mine[j+1:]...)
					if err := e.Delete(tn, id, store.Change{Source: "api"}); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					deleted[id] = true
					mu.Unlock()
				}
			}
		}(w)
	}
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				mu.Lock()
				gone := make(map[string]bool, len(deleted))
				for id := range deleted {
					gone[id] = true
				}
				mu.Unlock()
				res, err := e.Retrieve(ctx, tn, Query{Context: fmt.Sprintf("note about topic %d", i%10), Max: 20, Scope: store.Scope{UserID: "u"}})
				if err != nil {
					t.Error(err)
					return
				}
				for _, h := range res.Hits {
					if gone[h.Memory.ID] {
						t.Errorf("deleted memory %s returned", h.Memory.ID)
					}
				}
			}
		}(r)
	}
	wg.Wait()

	// Every stored memory is in the index, and nothing else is.
	ti, _ := e.tenant(tn)
	var all []store.Memory
	after := ""
	for {
		page, next, err := e.List(tn, store.Scope{}, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		after = next
	}
	ti.mu.RLock()
	defer ti.mu.RUnlock()
	if len(ti.docs) != len(all) || ti.vec.Len() != len(all) || ti.kw.Len() != len(all) {
		t.Fatalf("index holds %d docs, %d vectors, %d keyword docs; store holds %d", len(ti.docs), ti.vec.Len(), ti.kw.Len(), len(all))
	}
	for _, m := range all {
		if d := ti.docs[m.ID]; d == nil || d.text != m.Text || d.version != m.Version {
			t.Fatalf("index disagrees with the store on %s: %+v vs %+v", m.ID, d, m)
		}
	}
}

// A restart rebuilds the same index from the store's vectors, without embedding.
func TestIndexRebuiltFromStore(t *testing.T) {
	e, st, tn := newEngine(t)
	ctx := context.Background()
	texts := []string{"Loves sourdough bread", "Runs marathons every spring", "Allergic to peanuts"}
	var items []NewMemory
	for _, tx := range texts {
		items = append(items, NewMemory{Text: tx})
	}
	mems, err := e.Create(ctx, tn, items, store.Change{Source: "batch"})
	if err != nil {
		t.Fatal(err)
	}
	fresh := New(st, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := fresh.LoadAll(); err != nil {
		t.Fatal(err)
	}
	res, err := fresh.Retrieve(ctx, tn, Query{Context: "peanut allergy", Max: 1})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].Memory.ID != mems[2].ID {
		t.Fatalf("after reload: %+v %v", res.Hits, err)
	}
	ti, _ := fresh.tenant(tn)
	if ti.stale != 0 || ti.vec.Len() != 3 {
		t.Fatalf("reload: %d stale, %d vectors", ti.stale, ti.vec.Len())
	}
}

// Snapshots: a large tenant's vectors load from the snapshot saved at shutdown; a
// write since, or a damaged file, makes the engine rebuild from the store instead.
func TestVectorSnapshots(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	org, _, _, err := st.CreateOrgWithAdminKey("s", "enterprise")
	if err != nil {
		t.Fatal(err)
	}
	tn := Tenant{OrgID: org.ID, Mode: store.ModeLive}
	dir := t.TempDir()
	open := func() *Engine {
		e := New(st, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), IndexDir: dir, Crossover: 40})
		if err := e.LoadAll(); err != nil {
			t.Fatal(err)
		}
		return e
	}
	ctx := context.Background()
	e := open()
	rng := rand.New(rand.NewSource(3))
	var items []NewMemory
	for i := 0; i < 120; i++ {
		items = append(items, NewMemory{Text: benchText(rng)})
	}
	items = append(items, NewMemory{Text: "Speaks fluent Icelandic and Faroese"})
	mems, err := e.Create(ctx, tn, items, store.Change{Source: "batch"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SaveSnapshots(); err != nil {
		t.Fatal(err)
	}
	found := func(e *Engine, id, q string) bool {
		res, err := e.Retrieve(ctx, tn, Query{Context: q, Max: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range res.Hits {
			if h.Memory.ID == id {
				return true
			}
		}
		return false
	}
	loaded := func(e *Engine) *tenantIndex { ti, _ := e.tenant(tn); return ti }

	e2 := open()
	if ti := loaded(e2); !ti.fromSnapshot || ti.vec.Len() != 121 || !ti.vec.UsesHNSW() {
		t.Fatalf("not loaded from the snapshot: from=%v len=%d", ti.fromSnapshot, ti.vec.Len())
	}
	if !found(e2, mems[120].ID, "Icelandic Faroese") {
		t.Fatal("memory not found after loading the snapshot")
	}

	// A write since the snapshot makes it stale.
	late, err := e2.Create(ctx, tn, []NewMemory{{Text: "Collects vintage fountain pens"}}, store.Change{Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	e3 := open()
	if ti := loaded(e3); ti.fromSnapshot || ti.vec.Len() != 122 {
		t.Fatalf("stale snapshot loaded: from=%v len=%d", ti.fromSnapshot, ti.vec.Len())
	}
	if !found(e3, late[0].ID, "fountain pens") {
		t.Fatal("the write after the snapshot is missing")
	}

	// A damaged snapshot is detected and rebuilt, never loaded.
	if err := e3.SaveSnapshots(); err != nil {
		t.Fatal(err)
	}
	path := e3.snapshotPath(tn)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	e4 := open()
	if ti := loaded(e4); ti.fromSnapshot || ti.vec.Len() != 122 {
		t.Fatalf("damaged snapshot: from=%v len=%d", ti.fromSnapshot, ti.vec.Len())
	}
}

// An update that repeats the stored text needs no embedding and bills none; a new
// text is embedded once and found by its own words.
func TestUpdateSameTextEmbedsNothing(t *testing.T) {
	e, _, tn := newEngine(t)
	ctx := context.Background()
	mems, err := e.Create(ctx, tn, []NewMemory{{Text: "prefers green tea in the morning", UserID: "u1"}}, store.Change{Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	id := mems[0].ID
	same, meta := "prefers green tea in the morning", json.RawMessage(`{"k":1}`)
	ev := store.UsageEvent{OrgID: tn.OrgID, Mode: tn.Mode, At: time.Now(), Endpoint: "PUT /v1/memories/{id}"}
	m, err := e.Update(ctx, tn, id, Patch{Text: &same, Metadata: meta}, store.Change{Source: "api", Usage: &ev})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Embeddings != 0 || ev.TokensIn != 0 || m.Text != same || string(m.Metadata) != `{"k":1}` {
		t.Fatalf("same text: embeddings %d tokens %d, memory %+v", ev.Embeddings, ev.TokensIn, m)
	}
	other := "switched to black coffee"
	ev = store.UsageEvent{OrgID: tn.OrgID, Mode: tn.Mode, At: time.Now(), Endpoint: "PUT /v1/memories/{id}"}
	if _, err := e.Update(ctx, tn, id, Patch{Text: &other}, store.Change{Source: "api", Usage: &ev}); err != nil {
		t.Fatal(err)
	}
	if ev.Embeddings != 1 {
		t.Fatalf("new text: embeddings %d, want 1", ev.Embeddings)
	}
	res, err := e.Retrieve(ctx, tn, Query{Context: "black coffee", Max: 1})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].Memory.Text != other {
		t.Fatalf("retrieve after update: %+v %v", res.Hits, err)
	}
}
