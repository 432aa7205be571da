package memory

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// searchPool runs the CPU work of retrievals (embedding the query, searching,
// ranking) on a fixed set of worker goroutines, each locked to an OS thread of its
// own, which take the work first come, first served.
//
// Why workers rather than a bound on the request goroutines themselves: a search is
// CPU work of a millisecond or less, and what makes a request wait under load is the
// handing of cores between threads, not the searches. When each request's goroutine
// searched on whatever thread it was on, a finished search handed its core to the
// next waiting request's thread, which the kernel had to wake, and the threads that
// read requests and write answers competed with the searching ones for the same
// cores: with 8 closed-loop clients on 2 cores, most of a request's wait was outside
// any queue memoryd kept, in the kernel's run queue, in no order. Workers keep
// searching on threads that stay awake while there is work, in one queue in arrival
// order, and the other threads (main gives the scheduler more processors than
// workers: main.schedulerProcs) are left to the network. `go run ./bench floor -workers` measures the
// difference on the machine at hand (BENCHMARKS.md).
type searchPool struct {
	tasks chan *searchTask
	idle  sync.Pool // of *searchTask
}

// searchTask is one retrieval's work. state moves from queued to running (the worker
// took it) or to abandoned (its requester left first; the worker skips it).
type searchTask struct {
	job   job
	state atomic.Int32
	done  chan any // the run's panic value, or nil
}

// job is work for a search worker.
type job interface{ run() }

const (
	taskQueued int32 = iota
	taskRunning
	taskAbandoned
)

// searchQueue bounds the retrievals waiting for a worker; past it, requesters wait
// to join the queue, still in arrival order (a channel's blocked senders are).
const searchQueue = 4096

// newSearchPool starts workers workers. They end when the pool is no longer
// reachable (the engine that owns it is gone).
func newSearchPool(workers int) *searchPool {
	p := &searchPool{tasks: make(chan *searchTask, searchQueue)}
	p.idle.New = func() any { return &searchTask{done: make(chan any, 1)} }
	for range workers {
		go searchWorker(p.tasks)
	}
	runtime.AddCleanup(p, func(tasks chan *searchTask) { close(tasks) }, p.tasks)
	return p
}

// searchWorker runs tasks until tasks is closed. It holds its OS thread for good, so
// the thread that searches stays one of the process's few busy threads.
func searchWorker(tasks <-chan *searchTask) {
	runtime.LockOSThread()
	for t := range tasks {
		if !t.state.CompareAndSwap(taskQueued, taskRunning) {
			continue // abandoned: its requester has gone and will not reuse it
		}
		t.done <- runTask(t.job)
	}
}

// runTask runs j and returns what it panicked with, so a failing retrieval fails
// its own request (which re-panics, as if it had run there) and not the process.
func runTask(j job) (recovered any) {
	defer func() { recovered = recover() }()
	j.run()
	return nil
}

// do runs j on a worker and returns when it has run, or with ctx's error if ctx ends
// before a worker takes it (j then never runs, and may still be held by the queue).
// Once a worker has taken j, do waits for it: a search is short, and its answer is
// worth giving. A nil pool runs j on the caller's goroutine.
func (p *searchPool) do(ctx context.Context, j job) error {
	if err := ctx.Err(); err != nil {
		return err // a request already abandoned is not served
	}
	if p == nil {
		j.run()
		return nil
	}
	t := p.idle.Get().(*searchTask)
	t.job = j
	t.state.Store(taskQueued)
	select {
	case p.tasks <- t:
	case <-ctx.Done():
		t.job = nil
		p.idle.Put(t)
		return ctx.Err()
	}
	var recovered any
	select {
	case recovered = <-t.done:
	case <-ctx.Done():
		if t.state.CompareAndSwap(taskQueued, taskAbandoned) {
			return ctx.Err() // the worker drops t; it is not pooled again
		}
		recovered = <-t.done
	}
	t.job = nil
	p.idle.Put(t)
	if recovered != nil {
		panic(recovered)
	}
	return nil
}
