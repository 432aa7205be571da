package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"memoryd/memory/scriptedmodel"
	"memoryd/store"
)

// The prefilter's savings count the memories the query's scope and filters admit, not
// expired, that were not sent, at the sent texts' mean bytes ÷ 4. Every text here is
// 40 bytes: 10 tokens a memory kept from the model.
func TestPrefilterSavedCountsTheQueryScope(t *testing.T) {
	e, tn, _, _ := newScriptedEngine(t, &scriptedmodel.Script{})
	ctx := context.Background()
	var items []NewMemory
	add := func(n int, user, topic string, expires *time.Time) {
		for range n {
			text := fmt.Sprintf("User grows tomato plants no. %03d indoors", len(items))
			if len(text) != 40 {
				t.Fatalf("%q is %d bytes", text, len(text))
			}
			md, _ := json.Marshal(map[string]string{"topic": topic})
			items = append(items, NewMemory{Text: text, UserID: user, Metadata: md, ExpiresAt: expires})
		}
	}
	soon := time.Now().Add(100 * time.Millisecond)
	add(6, "u1", "garden", nil)
	add(2, "u1", "garden", &soon) // expired before the queries
	add(4, "u1", "work", nil)
	add(3, "", "garden", nil)
	if _, err := e.Create(ctx, tn, items, store.Change{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(soon) + 10*time.Millisecond)

	garden := map[string]any{"topic": "garden"}
	for _, tc := range []struct {
		name    string
		q       Query
		inScope int
	}{
		{"user and filter", Query{Scope: store.Scope{UserID: "u1"}, MetadataEq: garden}, 6},
		{"filter only", Query{MetadataEq: garden}, 9},
		{"user only", Query{Scope: store.Scope{UserID: "u1"}}, 10},
		{"everything", Query{}, 13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Context, tc.q.Max = "How many tomato plants grow indoors?", 2
			a, err := e.Answer(ctx, tn, tc.q, "")
			if err != nil {
				t.Fatal(err)
			}
			sent := len(a.Retrieval.Hits)
			if sent != 2 || a.Usage.Requests != 1 {
				t.Fatalf("%d memories sent in %d requests", sent, a.Usage.Requests)
			}
			if want := int64((tc.inScope - sent) * 10); a.Retrieval.PrefilterTokensSaved != want {
				t.Fatalf("saved %d, want (%d − %d) × 10 = %d", a.Retrieval.PrefilterTokensSaved, tc.inScope, sent, want)
			}
		})
	}
	// Re-ranking offers all of a scope smaller than its pool: nothing was kept back.
	res, _, err := e.Query(ctx, tn, Query{Context: "tomato plant", Max: 2, Scope: store.Scope{UserID: "u1"}})
	if err != nil || res.PrefilterTokensSaved != 0 {
		t.Fatalf("re-ranking a whole scope saved %d (%v)", res.PrefilterTokensSaved, err)
	}
}
