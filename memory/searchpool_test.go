package memory

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"memoryd/store"
)

// jobFunc is a job that runs a function.
type jobFunc func()

func (f jobFunc) run() { f() }

// occupy holds every worker of p until the returned release is called.
func occupy(t *testing.T, p *searchPool, workers int) (release func()) {
	t.Helper()
	hold := make(chan struct{})
	started := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.do(context.Background(), jobFunc(func() { started <- struct{}{}; <-hold })); err != nil {
				t.Error(err)
			}
		}()
	}
	for range workers {
		<-started
	}
	return func() { close(hold); wg.Wait() }
}

// Retrievals beyond the search workers wait for one, give up with their context, and
// a cached answer needs none.
func TestSearchWorkers(t *testing.T) {
	e, _, tn := newEngine(t)
	e.searches = newSearchPool(1)
	ctx := context.Background()
	if _, err := e.Create(ctx, tn, []NewMemory{{Text: "likes green tea in the morning"}, {Text: "has a dog called Rex"}}, store.Change{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	q := Query{Context: "what does the user drink", Max: 5}
	if _, err := e.Retrieve(ctx, tn, q); err != nil {
		t.Fatal(err)
	}

	release := occupy(t, e.searches, 1) // every worker busy
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := e.Retrieve(short, tn, Query{Context: "the dog's name", Max: 5}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with no worker free: %v, want the context's deadline", err)
	}
	res, err := e.Retrieve(ctx, tn, q)
	if err != nil || !res.Cached || len(res.Hits) == 0 {
		t.Fatalf("cached answer with no worker free: %+v, %v", res, err)
	}

	// A waiting retrieval runs once the worker is free.
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
		t.Fatalf("retrieval ran with no worker free: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Many at once through one worker all finish, each with its own answer.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			text := "tea"
			if i%2 == 1 {
				text = "dog called"
			}
			res, err := e.Retrieve(ctx, tn, Query{Context: fmt.Sprintf("%s %c", text, 'a'+i), Max: 1})
			switch {
			case err != nil:
				t.Error(err)
			case len(res.Hits) != 1 || !strings.Contains(res.Hits[0].Memory.Text, text):
				t.Errorf("query %q answered %+v", text, res.Hits)
			}
		}()
	}
	wg.Wait()
	if len(e.searches.tasks) != 0 {
		t.Fatalf("%d searches still queued", len(e.searches.tasks))
	}
}

// Work waiting for a worker is taken in arrival order; work whose requester left
// before a worker took it never runs; a panic fails its own caller, and the worker
// goes on.
func TestSearchPoolOrderAbandonAndPanic(t *testing.T) {
	p := newSearchPool(1)
	ctx := context.Background()
	release := occupy(t, p, 1)

	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.do(ctx, jobFunc(func() { mu.Lock(); order = append(order, i); mu.Unlock() })); err != nil {
				t.Error(err)
			}
		}()
		// The next one is queued only once this one is.
		for deadline := time.Now().Add(5 * time.Second); len(p.tasks) != i+1; {
			if time.Now().After(deadline) {
				t.Fatalf("job %d never queued", i)
			}
			runtime.Gosched()
		}
	}
	ran := make(chan struct{}, 1)
	gone, cancel := context.WithCancel(ctx)
	abandoned := make(chan error)
	go func() { abandoned <- p.do(gone, jobFunc(func() { ran <- struct{}{} })) }()
	for len(p.tasks) != 9 {
		runtime.Gosched()
	}
	cancel()
	if err := <-abandoned; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned job: %v, want context.Canceled", err)
	}
	release()
	wg.Wait()
	if fmt.Sprint(order) != "[0 1 2 3 4 5 6 7]" {
		t.Fatalf("ran in order %v, want arrival order", order)
	}

	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the job's panic", r)
			}
		}()
		_ = p.do(ctx, jobFunc(func() { panic("boom") }))
		t.Fatal("a panicking job returned normally")
	}()
	if err := p.do(ctx, jobFunc(func() {})); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
	select {
	case <-ran:
		t.Fatal("the abandoned job ran")
	default:
	}

	// A request already gone is not queued at all.
	if err := p.do(gone, jobFunc(func() { t.Error("ran for a request already gone") })); !errors.Is(err, context.Canceled) {
		t.Fatalf("gone before asking: %v", err)
	}
}

// A pool's workers end once nothing holds the pool (an engine dropped, as tests and
// restarts in one process do): its queue is closed, which ends each worker's loop.
func TestSearchPoolEndsWithItsOwner(t *testing.T) {
	p := newSearchPool(2)
	if err := p.do(context.Background(), jobFunc(func() {})); err != nil {
		t.Fatal(err)
	}
	tasks := p.tasks // the queue, not the pool: this does not keep p reachable
	p = nil
	for deadline := time.Now().Add(10 * time.Second); ; {
		runtime.GC()
		select {
		case _, open := <-tasks:
			if !open {
				return
			}
			t.Fatal("a task was queued on a pool nobody holds")
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the queue of an unreachable pool is still open after 10 s")
		}
	}
}
