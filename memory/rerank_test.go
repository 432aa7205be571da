package memory

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"memoryd/llm/chattest"
	"memoryd/memory/scriptedmodel"
	"memoryd/store"
)

// /v1/query's re-ranking: the top RerankPool memories by retrieval go to the model in
// retrieval order, its scores decide the order of the max_memories kept (ties keep
// retrieval order) and become their relevance; one model call. A model answering
// nonsense (also after the repair request) leaves the retrieval order.
func TestQueryRerankReordersThePrefilter(t *testing.T) {
	var mu sync.Mutex
	var offered []string
	broken := false
	s := &scriptedmodel.Script{Override: func(n int, req chattest.Request) (chattest.Reply, bool) {
		if req.Model != scriptedmodel.Rerank {
			return chattest.Reply{}, false
		}
		mu.Lock()
		defer mu.Unlock()
		if broken {
			return chattest.Reply{Content: `{"scores": "high"}`}, true
		}
		offered = scriptedmodel.Numbered(req.Prompt())
		scores := make([]int, len(offered))
		scores[len(offered)-1] = 10 // the prefilter's last is the model's best
		scores[len(offered)-2] = 7
		raw := "["
		for i, sc := range scores {
			if i > 0 {
				raw += ","
			}
			raw += fmt.Sprint(sc)
		}
		return chattest.Reply{Content: `{"scores": ` + raw + `]}`}, true
	}}
	e, tn, srv, _ := newScriptedEngine(t, s)
	var texts []string
	for i := range RerankPool + 10 {
		texts = append(texts, fmt.Sprintf("User planted %d tulip bulbs in the garden bed number %d", i+1, i+1))
	}
	seed(t, e, tn, texts...)
	ctx := context.Background()
	q := Query{Context: "tulip bulbs in the garden", Max: 3, Scope: store.Scope{UserID: "u1"}}

	plain, err := e.Retrieve(ctx, tn, Query{Context: q.Context, Max: RerankPool, Scope: q.Scope})
	if err != nil || len(plain.Hits) != RerankPool {
		t.Fatalf("retrieve: %d hits, %v", len(plain.Hits), err)
	}
	r, usage, err := e.Query(ctx, tn, q)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := append([]string(nil), offered...)
	mu.Unlock()
	if len(got) != RerankPool {
		t.Fatalf("the model was offered %d memories, want the top %d", len(got), RerankPool)
	}
	for i, h := range plain.Hits {
		if got[i] != h.Memory.Text {
			t.Fatalf("offered #%d = %q, retrieval's #%d = %q", i, got[i], i, h.Memory.Text)
		}
	}
	want := []struct {
		text string
		rel  float32
	}{{got[RerankPool-1], 1}, {got[RerankPool-2], 0.7}, {got[0], 0}}
	if len(r.Hits) != 3 || usage.Requests != 1 || len(srv.Requests()) != 1 {
		t.Fatalf("%d hits, usage %+v, %d model requests", len(r.Hits), usage, len(srv.Requests()))
	}
	for i, w := range want {
		if r.Hits[i].Memory.Text != w.text || r.Hits[i].Relevance != w.rel {
			t.Fatalf("hit %d = %q (%.2f), want %q (%.2f)", i, r.Hits[i].Memory.Text, r.Hits[i].Relevance, w.text, w.rel)
		}
	}

	mu.Lock()
	broken = true
	mu.Unlock()
	r, usage, err = e.Query(ctx, tn, Query{Context: "tulip bulbs in the garden bed", Max: 3, Scope: q.Scope})
	if err != nil || len(r.Hits) != 3 || usage.Requests != 2 { // the answer, and one repair
		t.Fatalf("broken model: %d hits, usage %+v, %v", len(r.Hits), usage, err)
	}
	again, _ := e.Retrieve(ctx, tn, Query{Context: "tulip bulbs in the garden bed", Max: 3, Scope: q.Scope})
	for i := range r.Hits {
		if r.Hits[i].Memory.ID != again.Hits[i].Memory.ID {
			t.Fatalf("broken model: hit %d = %q, retrieval order has %q", i, r.Hits[i].Memory.Text, again.Hits[i].Memory.Text)
		}
	}
}
