package memory

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"memoryd/store"
)

// Retrievals beyond the search slots wait for one, give up with their context, and
// a cached answer needs none.
func TestSearchSlots(t *testing.T) {
	e, _, tn := newEngine(t)
	e.searches = make(chan struct{}, 1)
	ctx := context.Background()
	if _, err := e.Create(ctx, tn, []NewMemory{{Text: "likes green tea in the morning"}, {Text: "has a dog called Rex"}}, store.Change{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	q := Query{Context: "what does the user drink", Max: 5}
	if _, err := e.Retrieve(ctx, tn, q); err != nil {
		t.Fatal(err)
	}

	e.searches <- struct{}{} // every slot taken
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := e.Retrieve(short, tn, Query{Context: "the dog's name", Max: 5}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with no slot free: %v, want the context's deadline", err)
	}
	res, err := e.Retrieve(ctx, tn, q)
	if err != nil || !res.Cached || len(res.Hits) == 0 {
		t.Fatalf("cached answer with no slot free: %+v, %v", res, err)
	}

	// A waiting retrieval runs once the slot is released.
	done := make(chan error, 1)
	go func() {
		res, err := e.Retrieve(ctx, tn, Query{Context: "the dog's name", Max: 5})
		if err == nil && (len(res.Hits) == 0 || res.Hits[0].Memory.Text != "has a dog called Rex") {
			err = errors.New("wrong answer")
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("retrieval ran without a slot: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	<-e.searches
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Many at once through one slot all finish, and leave it free.
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.Retrieve(ctx, tn, Query{Context: "tea or dog " + string(rune('a'+i)), Max: 2}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(e.searches) != 0 {
		t.Fatalf("%d slots still held", len(e.searches))
	}
}
