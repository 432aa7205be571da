package billing

import (
	"errors"
	"testing"
	"time"

	"memoryd/config"
	"memoryd/store"
)

func openStore(t *testing.T, now func() time.Time) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A Starter org's October invoice equals the hand computation from the prices set
// here, to the cent; November's usage and test-mode usage are not on it.
func TestCloseStarterInvoice(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := openStore(t, clock)
	cfg := config.Default()
	starter := cfg.Plans["starter"]
	starter.PriceUSD = 49
	starter.Monthly = map[string]int64{"api_calls": 10, "tokens": 1000, "memories_stored": 100, "embeddings": 100}
	starter.Overage = config.Overage{APICallsPer1K: 0.50, TokensPer1M: 2.00}
	cfg.Plans["starter"] = starter

	org, _, _, err := st.CreateOrgWithAdminKey("Acme", "starter")
	if err != nil {
		t.Fatal(err)
	}
	var evs []store.UsageEvent
	oct := time.Date(2026, 10, 3, 12, 0, 0, 0, time.UTC)
	for i := range 2345 {
		ev := store.UsageEvent{OrgID: org.ID, Mode: store.ModeLive, KeyID: "key_x", Endpoint: "POST /v1/retrieve", Status: 200,
			At: oct.Add(time.Duration(i) * 10 * time.Minute)}
		if i == 0 {
			ev.TokensIn, ev.TokensOut = 1_000_000, 234_567
		}
		evs = append(evs, ev)
	}
	// Not billed: November (still open), and the test-mode sandbox.
	evs = append(evs, store.UsageEvent{OrgID: org.ID, Mode: store.ModeLive, At: now, TokensIn: 9_999_999},
		store.UsageEvent{OrgID: org.ID, Mode: store.ModeTest, At: oct, TokensIn: 9_999_999})
	if err := st.RecordUsage(evs); err != nil {
		t.Fatal(err)
	}

	svc := New(cfg, st, nil, Options{Now: clock})
	if _, err := svc.Close("2026-11"); !errors.Is(err, ErrPeriodOpen) {
		t.Fatalf("closing the current month: %v, want ErrPeriodOpen", err)
	}
	invs, err := svc.Close("2026-10")
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 1 {
		t.Fatalf("%d invoices, want 1", len(invs))
	}
	v := ViewInvoice(invs[0])
	// By hand: $49 base; (2,345 - 10) calls × $0.50/1,000 = $1.1675 → $1.17;
	// (1,234,567 - 1,000) tokens × $2.00/1,000,000 = $2.467134 → $2.47. Total $52.64.
	want := []LineView{
		{Description: "Starter plan, October 2026", Quantity: 1, UnitPriceUSD: 49, AmountUSD: 49},
		{Description: "API calls over the included 10", Quantity: 2335, UnitPriceUSD: 0.0005, AmountUSD: 1.17},
		{Description: "Tokens over the included 1,000", Quantity: 1_233_567, UnitPriceUSD: 0.000002, AmountUSD: 2.47},
	}
	if len(v.Lines) != len(want) {
		t.Fatalf("lines %+v", v.Lines)
	}
	for i, l := range v.Lines {
		w := want[i]
		if l.Description != w.Description || l.Quantity != w.Quantity || l.UnitPriceUSD != w.UnitPriceUSD || l.AmountUSD != w.AmountUSD {
			t.Errorf("line %d = %+v, want %+v", i, l, w)
		}
	}
	if v.SubtotalUSD != 52.64 || v.TotalUSD != 52.64 || invs[0].TotalMicros != 52_640_000 {
		t.Fatalf("total %v (%d micros), want 52.64", v.TotalUSD, invs[0].TotalMicros)
	}
	if v.Status != StatusOpen || v.Period.Start != time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("status %s period %v", v.Status, v.Period)
	}
	t.Logf("October invoice: %+v", v)

	again, err := svc.Close("2026-10")
	if err != nil || len(again) != 1 || again[0].ID != invs[0].ID || again[0].TotalMicros != invs[0].TotalMicros {
		t.Fatalf("closing again gave %+v, %v; want the same invoice", again, err)
	}
}

func TestStatusTransitions(t *testing.T) {
	for _, c := range []struct {
		from, to string
		ok       bool
	}{
		{StatusDraft, StatusOpen, true}, {StatusOpen, StatusPaid, true}, {StatusOpen, StatusPaymentFailed, true},
		{StatusPaymentFailed, StatusPaid, true}, {StatusOpen, StatusVoid, true},
		{StatusPaid, StatusOpen, false}, {StatusVoid, StatusPaid, false}, {StatusDraft, StatusPaid, false},
	} {
		t.Run(c.from+"->"+c.to, func(t *testing.T) {
			if CanMove(c.from, c.to) != c.ok {
				t.Fatalf("CanMove = %v", !c.ok)
			}
		})
	}
}

// The Standard Webhooks reference signature.
func TestSign(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestRoundCents(t *testing.T) {
	for _, c := range []struct{ num, den, want int64 }{
		{1_167_500 * 1000, 1000, 1_170_000}, {1_164_999, 1, 1_160_000}, {5_000, 1, 10_000}, {4_999, 1, 0}, {0, 1000, 0},
	} {
		if got := roundCents(c.num, c.den); got != c.want {
			t.Errorf("roundCents(%d, %d) = %d, want %d", c.num, c.den, got, c.want)
		}
	}
}

// The scheduler closes the previous month once close_delay has passed since it ended,
// once; with auto_close off it leaves the month to the operator.
func TestCloseDueAfterDelay(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 30, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := openStore(t, clock)
	org, _, _, err := st.CreateOrgWithAdminKey("Acme", "starter")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordUsage([]store.UsageEvent{{OrgID: org.ID, Mode: store.ModeLive, KeyID: "key_x", Endpoint: "GET /v1/account",
		Status: 200, At: time.Date(2026, 10, 20, 8, 0, 0, 0, time.UTC)}}); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Billing.AutoClose, cfg.Billing.CloseDelay.Duration = true, time.Hour
	svc := New(cfg, st, nil, Options{Now: clock})
	october := func() []store.Invoice {
		invs, err := st.InvoicesForPeriod("2026-10")
		if err != nil {
			t.Fatal(err)
		}
		return invs
	}

	off := cfg
	off.Billing.AutoClose = false
	closed := ""
	now = now.Add(2 * time.Hour)
	New(off, st, nil, Options{Now: clock}).closeDue(&closed)
	if closed != "" || len(october()) != 0 {
		t.Fatalf("auto_close off closed %q: %+v", closed, october())
	}

	now = time.Date(2026, 11, 1, 0, 59, 0, 0, time.UTC) // within the delay
	svc.closeDue(&closed)
	if closed != "" || len(october()) != 0 {
		t.Fatalf("closed %q before the delay: %+v", closed, october())
	}
	now = time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC)
	svc.closeDue(&closed)
	invs := october()
	if closed != "2026-10" || len(invs) != 1 || invs[0].OrgID != org.ID || invs[0].Status != StatusOpen {
		t.Fatalf("after the delay: closed %q, invoices %+v", closed, invs)
	}
	now = now.Add(time.Minute)
	svc.closeDue(&closed)
	if again := october(); len(again) != 1 || again[0].ID != invs[0].ID {
		t.Fatalf("closed twice: %+v", again)
	}
}
