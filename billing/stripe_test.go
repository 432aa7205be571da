package billing

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"memoryd/billing/stripetest"
	"memoryd/config"
	"memoryd/store"
)

const testWebhookSecret = "whsec_test_3d9f0c1b7a"

func stripeConfig(mock *stripetest.Mock) config.Config {
	cfg := config.Default()
	cfg.Billing.StripeSecretKey = "sk_test_memoryd"
	cfg.Billing.StripeWebhookSecret = testWebhookSecret
	cfg.Billing.StripeBaseURL = mock.URL
	return cfg
}

// withStripe starts stripe-mock and a store at the fixed time now holding one Starter
// org.
func withStripe(t *testing.T, now time.Time, orgName string) (*stripetest.Mock, *store.Store, store.Org, func() time.Time) {
	mock := stripetest.Start(t)
	clock := func() time.Time { return now }
	st := openStore(t, clock)
	org, _, _, err := st.CreateOrgWithAdminKey(orgName, "starter")
	if err != nil {
		t.Fatal(err)
	}
	return mock, st, org, clock
}

// Each org's usage goes to Stripe's meters as one event per metric and hour, named by
// an identifier of org, metric and hour. A sync that fails half-way is repeated with
// the same identifiers (Stripe counts an identifier once), and a sync after a whole
// one sends nothing again.
func TestStripeMeterEventsOncePerOrgMetricHour(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	mock, st, org, clock := withStripe(t, now, "Metered")
	h10 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	h11 := h10.Add(time.Hour)
	var evs []store.UsageEvent
	for i := range 5 { // 10:00: 5 calls, 1,200 tokens
		evs = append(evs, store.UsageEvent{OrgID: org.ID, Mode: store.ModeLive, At: h10.Add(time.Duration(i) * time.Minute), TokensIn: 200, TokensOut: 40})
	}
	for i := range 3 { // 11:00: 3 calls, 7 embeddings
		evs = append(evs, store.UsageEvent{OrgID: org.ID, Mode: store.ModeLive, At: h11.Add(time.Duration(i) * time.Minute), Embeddings: []int64{3, 2, 2}[i]})
	}
	evs = append(evs,
		store.UsageEvent{OrgID: org.ID, Mode: store.ModeTest, At: h10, TokensIn: 999},                 // test mode: never billed
		store.UsageEvent{OrgID: org.ID, Mode: store.ModeLive, At: now.Add(-time.Minute), TokensIn: 5}) // this hour has not ended
	if err := st.RecordUsage(evs); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // identifier → value, by hand from the events above
		MeterIdentifier(org.ID, "api_calls", h10): "5", MeterIdentifier(org.ID, "tokens", h10): "1200",
		MeterIdentifier(org.ID, "api_calls", h11): "3", MeterIdentifier(org.ID, "embeddings", h11): "7",
	}

	svc := New(stripeConfig(mock), st, nil, Options{Now: clock})
	// Stripe refuses the second meter event of the first sync.
	n := 0
	mock.FailWhen(func(c stripetest.Call) bool { n++; return c.Path == "/v1/billing/meter_events" && n == 3 })
	if err := svc.SyncStripe(context.Background()); err == nil {
		t.Fatal("a sync whose meter event was refused reported no error")
	}
	mock.FailWhen(nil)
	if err := svc.SyncStripe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := svc.SyncStripe(context.Background()); err != nil { // nothing new to send
		t.Fatal(err)
	}

	customers := mock.Calls("/v1/customers")
	if len(customers) != 1 || customers[0].Form.Get("metadata[memoryd_org_id]") != org.ID || customers[0].IdempotencyKey != "memoryd-customer-"+org.ID {
		t.Fatalf("customer calls %+v, want one for %s", customers, org.ID)
	}
	cust, _ := st.StripeCustomer(org.ID)
	if cust == "" {
		t.Fatal("the Stripe customer id was not stored")
	}
	calls := mock.Calls("/v1/billing/meter_events")
	accepted := map[string]string{}
	attempts := map[string]int{}
	for _, c := range calls {
		id, v := c.Form.Get("identifier"), c.Form.Get("payload[value]")
		attempts[id]++
		if c.Form.Get("payload[stripe_customer_id]") != cust || c.Form.Get("event_name") == "" {
			t.Fatalf("meter event %+v", c.Form)
		}
		if prev, ok := accepted[id]; ok && prev != v {
			t.Fatalf("identifier %s sent with values %s and %s", id, prev, v)
		}
		if c.Status == 200 {
			accepted[id] = v
		}
	}
	if fmt.Sprint(accepted) != fmt.Sprint(want) {
		t.Fatalf("meter events accepted %v, want %v", accepted, want)
	}
	if len(calls) != 6 || attempts[calls[1].Form.Get("identifier")] != 2 || calls[1].Status != 400 {
		t.Fatalf("%d meter calls (%v), want 6: four events, the refused one and the one before it sent again under the same identifiers", len(calls), attempts)
	}
	if got := calls[0].Form.Get("event_name"); got != "memoryd_api_calls" || calls[0].Form.Get("timestamp") != fmt.Sprint(h10.Unix()) {
		t.Fatalf("first event %v", calls[0].Form)
	}
	t.Logf("customer %s; %d meter calls for %d identifiers: %v", cust, len(calls), len(accepted), accepted)
}

// signedEvent is a Stripe event about a memoryd invoice, signed at time at.
func signedEvent(t *testing.T, secret, id, typ string, inv store.Invoice, at time.Time) ([]byte, string) {
	return stripetest.SignedEvent(t, secret, id, typ, map[string]any{"id": inv.StripeInvoiceID, "object": "invoice",
		"metadata": map[string]string{"memoryd_org_id": inv.OrgID, "memoryd_invoice_id": inv.ID}}, at)
}

// Closing a month with Stripe on sends the invoice there with memoryd's lines in cents
// and finalizes it; Stripe's events then announce it, mark it paid, and apply once.
func TestStripeInvoiceSyncAndEvents(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	mock, st, org, clock := withStripe(t, now, "Invoiced")
	// 1,000 API calls in October: 900 over the 100 included here.
	var evs []store.UsageEvent
	oct := time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC)
	for i := range 1_000 {
		evs = append(evs, store.UsageEvent{OrgID: org.ID, Mode: store.ModeLive, At: oct.Add(time.Duration(i) * time.Second)})
	}
	if err := st.RecordUsage(evs); err != nil {
		t.Fatal(err)
	}
	cfg := stripeConfig(mock)
	cfg.Plans["starter"].Monthly["api_calls"] = 100
	svc := New(cfg, st, nil, Options{Now: clock})
	hook, err := svc.CreateWebhook(org.ID, "http://127.0.0.1:1/unused", []string{EventInvoiceCreated, EventPaymentFailed})
	if err != nil {
		t.Fatal(err)
	}
	queued := func(event string) int {
		ds, _, err := st.ListDeliveries(org.ID, hook.ID, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range ds {
			if d.Event == event {
				n++
			}
		}
		return n
	}

	// Stripe refuses the invoice's second line once: the close leaves a draft with one
	// line sent, and the next sync finishes it without sending the first line again.
	refused := false
	mock.FailWhen(func(c stripetest.Call) bool {
		if c.Path == "/v1/invoiceitems" && c.Form.Get("metadata[memoryd_line]") == "1" && !refused {
			refused = true
			return true
		}
		return false
	})
	invs, err := svc.Close("2026-10")
	if err != nil || len(invs) != 1 {
		t.Fatalf("close: %+v, %v", invs, err)
	}
	if inv := invs[0]; inv.Status != StatusDraft || inv.StripeInvoiceID == "" || inv.StripeLines != 1 {
		t.Fatalf("invoice after a refused line %+v, want a draft with one line at Stripe", inv)
	}
	mock.FailWhen(nil)
	if err := svc.SyncStripe(context.Background()); err != nil {
		t.Fatal(err)
	}
	inv, err := st.GetInvoice(org.ID, invs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	// By hand: $49.00 base; 900 calls × $0.50 / 1,000 = $0.45. Total $49.45.
	if inv.Status != StatusOpen || inv.StripeInvoiceID != invs[0].StripeInvoiceID || inv.TotalMicros != 49_450_000 || inv.StripeLines != 2 {
		t.Fatalf("invoice after the sync %+v", inv)
	}
	created := mock.Calls("/v1/invoices")
	if len(created) != 2 || created[0].Form.Get("metadata[memoryd_invoice_id]") != inv.ID || created[0].Form.Get("auto_advance") != "false" ||
		created[1].Path != "/v1/invoices/"+inv.StripeInvoiceID+"/finalize" {
		t.Fatalf("invoice calls %+v, want one create and one finalize", created)
	}
	items := mock.Calls("/v1/invoiceitems")
	if len(items) != 3 || items[0].Form.Get("amount") != "4900" || items[1].Status != 400 || items[2].Form.Get("amount") != "45" ||
		items[2].Form.Get("invoice") != inv.StripeInvoiceID || items[2].IdempotencyKey != "memoryd-"+inv.ID+"-line-1" {
		t.Fatalf("invoice items %+v, want line 0, line 1 refused, line 1", items)
	}
	items = []stripetest.Call{items[0], items[2]}
	if queued(EventInvoiceCreated) != 0 {
		t.Fatal("billing.invoice_created queued before Stripe confirmed the invoice")
	}
	t.Logf("invoice %s → Stripe %s, items %s + %s cents", inv.ID, inv.StripeInvoiceID, items[0].Form.Get("amount"), items[1].Form.Get("amount"))

	status := func() string {
		got, err := st.GetInvoice(org.ID, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Status
	}
	// Refused: another secret, an old timestamp. Nothing changes.
	body, sig := signedEvent(t, "whsec_other", "evt_bad1", "invoice.paid", inv, now)
	if _, err := svc.HandleStripeEvent(body, sig); !errors.Is(err, ErrStripeSignature) {
		t.Fatalf("wrong secret: %v", err)
	}
	body, sig = signedEvent(t, testWebhookSecret, "evt_old1", "invoice.paid", inv, time.Now().Add(-10*time.Minute))
	if _, err := svc.HandleStripeEvent(body, sig); !errors.Is(err, ErrStripeSignature) {
		t.Fatalf("old timestamp: %v", err)
	}
	if _, err := svc.HandleStripeEvent([]byte(`{"id":"evt_x","type":"invoice.paid"}`), ""); !errors.Is(err, ErrStripeSignature) {
		t.Fatalf("unsigned: %v", err)
	}
	if status() != StatusOpen || queued(EventInvoiceCreated) != 0 {
		t.Fatal("a refused event changed the invoice")
	}

	for i, want := range []bool{false, true} { // the second is a replay
		body, sig = signedEvent(t, testWebhookSecret, "evt_created1", "invoice.created", inv, time.Now())
		replayed, err := svc.HandleStripeEvent(body, sig)
		if err != nil || replayed != want {
			t.Fatalf("invoice.created #%d: replayed %v, %v", i+1, replayed, err)
		}
		body, sig = signedEvent(t, testWebhookSecret, "evt_paid1", "invoice.paid", inv, time.Now())
		if replayed, err = svc.HandleStripeEvent(body, sig); err != nil || replayed != want {
			t.Fatalf("invoice.paid #%d: replayed %v, %v", i+1, replayed, err)
		}
	}
	if n := queued(EventInvoiceCreated); n != 1 || status() != StatusPaid {
		t.Fatalf("%d billing.invoice_created queued, status %s; want 1 and paid", n, status())
	}
	// A payment failure reported after the payment changes nothing.
	body, sig = signedEvent(t, testWebhookSecret, "evt_failed1", "invoice.payment_failed", inv, time.Now())
	if _, err := svc.HandleStripeEvent(body, sig); err != nil || status() != StatusPaid || queued(EventPaymentFailed) != 0 {
		t.Fatalf("late payment_failed: %v, status %s", err, status())
	}
}
