package meter

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"memoryd/config"
	"memoryd/store"
)

// Store is what the meter needs of the store.
type Store interface {
	RecordUsage(events []store.UsageEvent) error
	Rollups(orgID string, mode store.Mode, gran, dim string, from, to time.Time) ([]store.RollupRow, error)
	MemoriesStored(orgID string, mode store.Mode) (int64, error)
}

// Meter holds each tenant's limiter state and this month's counters, and
// group-commits the usage events of requests that wrote nothing.
type Meter struct {
	cfg config.Config
	st  Store
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	tenants map[tenantKey]*tenant
	pending []store.UsageEvent

	flushMu sync.Mutex // one flush at a time, so events commit in order
}

type tenantKey struct {
	org  string
	mode store.Mode
}

// tenant is one org and mode's live state. Test mode has its own, apart from live.
type tenant struct {
	minute   *rate.Limiter
	rpm      int
	inflight int
	day      string // UTC date the day count is for
	dayCount int64
	month    string // UTC "2006-01" the monthly counters are for
	monthly  store.UsageCounters
}

// New returns a meter. now may be nil for the wall clock.
func New(cfg config.Config, st Store, log *slog.Logger, now func() time.Time) *Meter {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Meter{cfg: cfg, st: st, now: now, log: log, tenants: map[tenantKey]*tenant{}}
}

// MonthStart is the first instant of t's calendar month in UTC.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// tenantLocked returns the tenant's state, loading this month's and today's counts
// from the rollups the first time and rolling them over at month and day ends.
func (m *Meter) tenantLocked(org string, mode store.Mode, now time.Time) *tenant {
	k := tenantKey{org, mode}
	t := m.tenants[k]
	month, day := now.UTC().Format("2006-01"), now.UTC().Format("2006-01-02")
	if t == nil {
		t = &tenant{month: month, day: day}
		start := MonthStart(now)
		rows, err := m.st.Rollups(org, mode, store.Daily, store.DimAll, start, start.AddDate(0, 1, 0))
		if err != nil {
			m.log.Error("load usage rollups", "org_id", org, "err", err)
		}
		for _, r := range rows {
			t.monthly.Merge(r.Counters)
			if r.Start == day {
				t.dayCount = r.Counters.APICalls
			}
		}
		m.tenants[k] = t
	}
	if t.month != month {
		t.month, t.monthly = month, store.UsageCounters{}
	}
	if t.day != day {
		t.day, t.dayCount = day, 0
	}
	return t
}

// Admission is an admitted request's rate-limit state, for the X-RateLimit headers.
type Admission struct {
	Limit     int
	Remaining int
	Reset     int // seconds until the minute window is full again
	release   func()
}

// Done frees the request's concurrency slot.
func (a *Admission) Done() {
	if a != nil && a.release != nil {
		a.release()
		a.release = nil
	}
}

// Denial says why a request was refused.
type Denial struct {
	Quota      bool   // 402 QUOTA_EXCEEDED; else 429 RATE_LIMIT_EXCEEDED
	Window     string // minute, day or concurrent (429)
	Metric     string // the capped metric (402)
	Limit      int64
	Used       int64
	RetryAfter int // whole seconds (429)
	Admission  Admission
}

// Admit applies the org's concurrency, daily, per-minute limits and its hard cap on API
// calls to one request of the tenant, in that order. An admitted request must call
// Done on the returned Admission when it ends.
func (m *Meter) Admit(org store.Org, mode store.Mode) (*Admission, *Denial) {
	lim := LimitsFor(m.cfg, org)
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tenantLocked(org.ID, mode, now)
	if t.minute == nil || t.rpm != lim.RequestsPerMinute {
		// A token bucket holding a minute's requests, refilled evenly over the minute.
		t.minute = rate.NewLimiter(rate.Limit(float64(lim.RequestsPerMinute)/60), lim.RequestsPerMinute)
		t.rpm = lim.RequestsPerMinute
	}
	state := func() Admission {
		tokens := t.minute.TokensAt(now)
		missing := float64(lim.RequestsPerMinute) - tokens
		reset := int(math.Ceil(missing / (float64(lim.RequestsPerMinute) / 60)))
		return Admission{Limit: lim.RequestsPerMinute, Remaining: max(0, int(math.Floor(tokens))), Reset: max(0, reset)}
	}
	if t.inflight >= lim.Concurrent {
		return nil, &Denial{Window: "concurrent", Limit: int64(lim.Concurrent), RetryAfter: 1, Admission: state()}
	}
	if t.dayCount >= int64(lim.RequestsPerDay) {
		midnight := time.Date(now.UTC().Year(), now.UTC().Month(), now.UTC().Day()+1, 0, 0, 0, 0, time.UTC)
		return nil, &Denial{Window: "day", Limit: int64(lim.RequestsPerDay),
			RetryAfter: int(math.Ceil(midnight.Sub(now).Seconds())), Admission: state()}
	}
	r := t.minute.ReserveN(now, 1)
	if d := r.DelayFrom(now); !r.OK() || d > 0 {
		r.CancelAt(now)
		return nil, &Denial{Window: "minute", Limit: int64(lim.RequestsPerMinute),
			RetryAfter: max(1, int(math.Ceil(d.Seconds()))), Admission: state()}
	}
	if q := HardCap(m.cfg, org, "api_calls"); q > 0 && t.monthly.APICalls+int64(t.inflight) >= q {
		r.CancelAt(now)
		return nil, &Denial{Quota: true, Metric: "api_calls", Limit: q, Used: t.monthly.APICalls, Admission: state()}
	}
	t.inflight++
	t.dayCount++
	a := state()
	a.release = func() {
		m.mu.Lock()
		t.inflight--
		m.mu.Unlock()
	}
	return &a, nil
}

// Record counts a request's usage event. A committed event was already written in its
// write's transaction; any other is queued for the next group commit.
func (m *Meter) Record(ev store.UsageEvent, committed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tenantLocked(ev.OrgID, ev.Mode, m.now())
	if ev.At.UTC().Format("2006-01") == t.month {
		t.monthly.Add(&ev)
	}
	if !committed {
		m.pending = append(m.pending, ev)
	}
}

// Flush commits the queued events in one transaction. On failure they stay queued.
func (m *Meter) Flush() error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	m.mu.Lock()
	batch := m.pending
	m.pending = nil
	m.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := m.st.RecordUsage(batch); err != nil {
		m.mu.Lock()
		m.pending = append(batch, m.pending...)
		m.mu.Unlock()
		return err
	}
	return nil
}

// Run group-commits queued events every flush interval until ctx ends, then flushes
// what is left.
func (m *Meter) Run(ctx context.Context) {
	tick := time.NewTicker(m.cfg.Meter.FlushInterval.Duration)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := m.Flush(); err != nil {
				m.log.Error("flush usage events", "err", err)
			}
			return
		case <-tick.C:
			if err := m.Flush(); err != nil {
				m.log.Error("flush usage events", "err", err)
			}
		}
	}
}

// Month returns the tenant's counters for the current calendar month, including
// events not yet committed.
func (m *Meter) Month(orgID string, mode store.Mode) store.UsageCounters {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tenantLocked(orgID, mode, m.now()).monthly
}

// Forget drops a tenant's state, e.g. when its org is deleted.
func (m *Meter) Forget(orgID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mode := range []store.Mode{store.ModeLive, store.ModeTest} {
		delete(m.tenants, tenantKey{orgID, mode})
	}
}

// Check refuses work that would take a hard-capped metric (embeddings, tokens) past
// its monthly quota: n more units on top of this month's.
func (m *Meter) Check(org store.Org, mode store.Mode, metric string, n int64) *Denial {
	q := HardCap(m.cfg, org, metric)
	if q == 0 {
		return nil
	}
	c := m.Month(org.ID, mode)
	used := map[string]int64{"embeddings": c.Embeddings, "tokens": c.TokensIn + c.TokensOut}[metric]
	if used+n > q {
		return &Denial{Quota: true, Metric: metric, Limit: q, Used: used}
	}
	return nil
}

// Gauges reports the usage events waiting for their group commit, for /metrics.
func (m *Meter) Gauges() map[string]float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return map[string]float64{"usage_events_pending": float64(len(m.pending))}
}
