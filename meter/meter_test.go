package meter

import (
	"sync"
	"testing"
	"time"

	"memoryd/config"
	"memoryd/store"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newMeter(t *testing.T, cfg config.Config, start time.Time) (*Meter, *store.Store, *clock, store.Org) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	org, _, _, err := st.CreateOrgWithAdminKey("m", "free")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: start}
	return New(cfg, st, nil, c.now), st, c, org
}

func TestMinuteBucket(t *testing.T) {
	m, _, c, org := newMeter(t, config.Default(), time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC))
	for i := 0; i < 10; i++ {
		a, d := m.Admit(org, store.ModeLive)
		if d != nil {
			t.Fatalf("request %d denied: %+v", i+1, d)
		}
		if a.Limit != 10 || a.Remaining != 9-i {
			t.Fatalf("request %d: limit %d remaining %d", i+1, a.Limit, a.Remaining)
		}
		a.Done()
	}
	_, d := m.Admit(org, store.ModeLive)
	if d == nil || d.Quota || d.Window != "minute" || d.Limit != 10 || d.RetryAfter != 6 {
		t.Fatalf("11th request: %+v", d)
	}
	// The test-mode sandbox has its own bucket.
	if a, d := m.Admit(org, store.ModeTest); d != nil {
		t.Fatalf("test mode shares live's bucket: %+v", d)
	} else {
		a.Done()
	}
	c.add(6 * time.Second) // one token back
	a, d := m.Admit(org, store.ModeLive)
	if d != nil {
		t.Fatalf("after retry_after: %+v", d)
	}
	a.Done()
}

func TestConcurrentAndDailyLimits(t *testing.T) {
	cfg := config.Default()
	free := cfg.Plans["free"]
	free.RequestsPerMinute = 1000
	cfg.Plans["free"] = free
	m, _, c, org := newMeter(t, cfg, time.Date(2026, 11, 10, 23, 59, 0, 0, time.UTC))
	a1, _ := m.Admit(org, store.ModeLive)
	a2, _ := m.Admit(org, store.ModeLive)
	if _, d := m.Admit(org, store.ModeLive); d == nil || d.Window != "concurrent" || d.Limit != 2 || d.RetryAfter != 1 {
		t.Fatalf("third concurrent request: %+v", d)
	}
	a1.Done()
	a1.Done() // a second Done must not free another slot
	a3, d := m.Admit(org, store.ModeLive)
	if d != nil {
		t.Fatalf("after a slot freed: %+v", d)
	}
	if _, d := m.Admit(org, store.ModeLive); d == nil || d.Window != "concurrent" {
		t.Fatalf("double Done freed two slots: %+v", d)
	}
	a2.Done()
	a3.Done()
	for i := 3; i < 100; i++ {
		a, d := m.Admit(org, store.ModeLive)
		if d != nil {
			t.Fatalf("request %d: %+v", i+1, d)
		}
		a.Done()
	}
	_, d = m.Admit(org, store.ModeLive)
	if d == nil || d.Window != "day" || d.Limit != 100 || d.RetryAfter != 60 {
		t.Fatalf("101st request of the day: %+v", d)
	}
	c.add(61 * time.Second) // a new UTC day
	if a, d := m.Admit(org, store.ModeLive); d != nil {
		t.Fatalf("next day: %+v", d)
	} else {
		a.Done()
	}
}

// The daily count and monthly totals survive a restart through the rollups.
func TestCountsReloadFromRollups(t *testing.T) {
	cfg := config.Default()
	start := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	m, st, c, org := newMeter(t, cfg, start)
	for i := 0; i < 7; i++ {
		a, _ := m.Admit(org, store.ModeLive)
		m.Record(store.UsageEvent{OrgID: org.ID, Mode: store.ModeLive, KeyID: "key_x", Endpoint: "GET /v1/memories",
			MemoriesRead: 2, At: c.now()}, false)
		a.Done()
	}
	if got := m.Month(org.ID, store.ModeLive); got.APICalls != 7 || got.MemoriesRead != 14 {
		t.Fatalf("month before flush = %+v", got)
	}
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	m2 := New(cfg, st, nil, c.now)
	if got := m2.Month(org.ID, store.ModeLive); got.APICalls != 7 || got.MemoriesRead != 14 {
		t.Fatalf("month after restart = %+v", got)
	}
	// 93 more today reach the daily limit of 100 across the restart.
	for i := 0; i < 3; i++ {
		a, d := m2.Admit(org, store.ModeLive)
		if d != nil {
			t.Fatal(d)
		}
		a.Done()
	}
	m2.tenants[tenantKey{org.ID, store.ModeLive}].dayCount = 100
	if _, d := m2.Admit(org, store.ModeLive); d == nil || d.Window != "day" {
		t.Fatalf("daily limit after restart: %+v", d)
	}
	if m2.Month(org.ID, store.ModeTest).APICalls != 0 {
		t.Fatal("test mode counted live usage")
	}
}

func TestAPICallHardCap(t *testing.T) {
	cfg := config.Default()
	free := cfg.Plans["free"]
	free.Monthly = map[string]int64{"api_calls": 3}
	cfg.Plans["free"] = free
	m, _, c, org := newMeter(t, cfg, time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC))
	for i := 0; i < 3; i++ {
		a, d := m.Admit(org, store.ModeLive)
		if d != nil {
			t.Fatal(d)
		}
		m.Record(store.UsageEvent{OrgID: org.ID, Mode: store.ModeLive, At: c.now()}, false)
		a.Done()
	}
	_, d := m.Admit(org, store.ModeLive)
	if d == nil || !d.Quota || d.Metric != "api_calls" || d.Limit != 3 || d.Used != 3 {
		t.Fatalf("4th call: %+v", d)
	}
}

func TestCost(t *testing.T) {
	plan := config.Default().Plans["starter"] // $49, 50,000 calls, 1M tokens, $0.50/1K calls, $2/1M tokens
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	used := store.UsageCounters{APICalls: 60_000, TokensIn: 1_200_000, TokensOut: 300_000}
	// 10,000 calls over at $0.0005 = $5; 500,000 tokens over at $0.000002 = $1.
	c := CostOf(plan, used, start, start.AddDate(0, 0, 15)) // half of November
	if c.BaseMicros != 49_000_000 || c.OverageMicros != 6_000_000 || c.TotalMicros != 55_000_000 {
		t.Fatalf("cost = %+v", c)
	}
	// Projected: twice the usage by month end: 70,000 calls over ($35), 2M tokens over ($4).
	if c.ProjectedMicros != 49_000_000+35_000_000+4_000_000 {
		t.Fatalf("projected = %d", c.ProjectedMicros)
	}
	if USD(c.TotalMicros) != 55.00 || USD(1_234_567) != 1.23 {
		t.Fatal("USD rounding")
	}
	if got := ModelCost(config.Default(), "gpt-4o-mini", 1_000_000, 1_000_000); got != 750_000 {
		t.Fatalf("gpt-4o-mini 1M in + 1M out = %d micros, want 750000", got)
	}
	if ModelCost(config.Default(), "local-v1", 1000, 0) != 0 {
		t.Fatal("unpriced model has a cost")
	}
}
