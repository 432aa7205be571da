package billing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"memoryd/config"
)

// A queued event outlives the process: a new service on the same store sends it.
func TestDeliveryResumesAfterRestart(t *testing.T) {
	st := openStore(t, nil)
	cfg := config.Default()
	var got atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer rc.Close()

	first := New(cfg, st, nil, Options{})
	hook, err := first.CreateWebhook("org_x", rc.URL, []string{EventInvoiceCreated})
	if err != nil {
		t.Fatal(err)
	}
	if first.Subscribed("org_x", EventMemoryCreated) || !first.Subscribed("org_x", EventInvoiceCreated) {
		t.Fatal("subscription cache is wrong")
	}
	first.Emit("org_x", EventMemoryCreated, map[string]any{"id": "mem_1"}) // nobody listens: nothing queued
	first.Emit("org_x", EventInvoiceCreated, map[string]any{"id": "inv_1"})
	// The process "dies" before its worker runs.

	second := New(cfg, st, nil, Options{})
	if err := second.LoadWebhooks(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	second.deliverDue(context.Background(), &wg)
	wg.Wait()
	if got.Load() != 1 {
		t.Fatalf("receiver got %d requests, want 1", got.Load())
	}
	ds, _, err := st.ListDeliveries("org_x", hook.ID, "", 10)
	if err != nil || len(ds) != 1 || ds[0].Status != DeliverySucceeded || len(ds[0].Attempts) != 1 {
		t.Fatalf("deliveries %+v, %v", ds, err)
	}
	if pending, _ := st.PendingDeliveries(); len(pending) != 0 {
		t.Fatalf("queue still holds %+v", pending)
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	cfg := config.Default()
	cfg.Webhooks.RetryBase.Duration, cfg.Webhooks.RetryMax.Duration = time.Second, 8*time.Second
	s := New(cfg, nil, nil, Options{})
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: 8 * time.Second} {
		for range 20 {
			if d := s.backoff(n); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
}
