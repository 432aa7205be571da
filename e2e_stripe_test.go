package main

// Stripe end to end, against the real binary and stripe-mock (a go tool of this module,
// on 127.0.0.1): org → Stripe customer → usage → meter events → period close → invoice
// sent to Stripe → Stripe's signed event in → billing.invoice_created out.

import (
	"strings"
	"testing"
	"time"

	"memoryd/billing"
	"memoryd/billing/stripetest"
	"memoryd/store"
)

const e2eStripeSecret = "whsec_e2e_5b1f2c9d"

func TestStripeFlow(t *testing.T) {
	mock := stripetest.Start(t)
	t.Logf("stripe-mock on http://%s and https://%s", mock.HTTPAddr, mock.HTTPSAddr)

	// Without Stripe the webhook route does not exist.
	s := startServer(t, "")
	s.fails(t, 404, "NOT_FOUND", req{method: "POST", path: "/v1/stripe/webhook", body: map[string]any{"id": "evt_1", "type": "invoice.paid"},
		header: map[string]string{"Stripe-Signature": "t=1,v1=00"}})
	org, key := s.newOrg(t, "Starter Co", "starter")
	s.stop()

	// Last month's usage, recorded in two of its last hours while the server is down
	// (Stripe takes meter events up to 35 days old): 62,345 API calls, 3,456,789 tokens.
	now := time.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	h1, h2 := thisMonth.Add(-3*time.Hour), thisMonth.Add(-2*time.Hour) // both sent by now, even a minute into the month
	const calls, callsInH1 = 62_345, 40_000
	st, err := store.Open(s.data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]store.UsageEvent, calls)
	for i := range evs {
		at := h1.Add(time.Duration(i) * 80 * time.Millisecond)
		if i >= callsInH1 {
			at = h2.Add(time.Duration(i-callsInH1) * 80 * time.Millisecond)
		}
		evs[i] = store.UsageEvent{OrgID: org.ID, Mode: store.ModeLive, KeyID: "key_e2e", Endpoint: "POST /v1/retrieve", Status: 200, At: at}
	}
	evs[0].TokensIn, evs[0].TokensOut = 3_000_000, 456_789
	if err := st.RecordUsage(evs); err != nil {
		t.Fatal(err)
	}
	st.Close()

	s = startServer(t, s.data, append(fastBilling,
		"MEMORYD_BILLING_AUTO_CLOSE=false", "MEMORYD_BILLING_STRIPE_SECRET_KEY=sk_test_e2e", "MEMORYD_BILLING_STRIPE_WEBHOOK_SECRET="+e2eStripeSecret,
		"MEMORYD_BILLING_STRIPE_BASE_URL="+mock.URL, "MEMORYD_BILLING_STRIPE_SYNC_INTERVAL=1h")...)

	// At start (and hourly here) Stripe is synced: the org gets its Stripe customer, then
	// one meter event per metric and hour.
	mine := func() map[string]string {
		out := map[string]string{}
		for _, c := range mock.Calls("/v1/billing/meter_events") {
			if id := c.Form.Get("identifier"); strings.HasPrefix(id, "memoryd-"+org.ID+"-") && c.Status == 200 {
				out[id] = c.Form.Get("event_name") + "=" + c.Form.Get("payload[value]")
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(mine()) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	// A new org wakes a sync at once: it gets its customer, and the first org's hours,
	// sent already, are not sent again.
	org2, _ := s.newOrg(t, "Second Co", "starter")
	customersOf := func(id string) int {
		n := 0
		for _, c := range mock.Calls("/v1/customers") {
			if c.Form.Get("metadata[memoryd_org_id]") == id {
				n++
			}
		}
		return n
	}
	for customersOf(org2.ID) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	want := map[string]string{
		billing.MeterIdentifier(org.ID, "api_calls", h1): "memoryd_api_calls=40000",
		billing.MeterIdentifier(org.ID, "tokens", h1):    "memoryd_tokens=3456789",
		billing.MeterIdentifier(org.ID, "api_calls", h2): "memoryd_api_calls=22345",
	}
	got, sent := mine(), 0
	for _, c := range mock.Calls("/v1/billing/meter_events") {
		if strings.HasPrefix(c.Form.Get("identifier"), "memoryd-"+org.ID+"-") {
			sent++
		}
	}
	if len(got) != len(want) || sent != len(want) {
		t.Fatalf("meter events %v (%d sent), want %v once each", got, sent, want)
	}
	for id, v := range want {
		if got[id] != v {
			t.Fatalf("meter event %s = %q, want %q", id, got[id], v)
		}
	}
	if customersOf(org.ID) != 1 || customersOf(org2.ID) != 1 {
		t.Fatalf("Stripe customers %+v, want one for %s and one for %s", mock.Calls("/v1/customers"), org.ID, org2.ID)
	}
	t.Logf("customer for %s; meter events %v", org.ID, got)

	rc := newReceiver(t, 0)
	var hook webhookCreated
	s.ok(t, 201, req{method: "POST", path: "/v1/webhooks", key: key,
		body: map[string]any{"url": rc.URL, "events": []string{"billing.invoice_created", "billing.payment_failed"}}}, &hook)
	rc.setSecret(hook.Secret)

	period := h1.Format("2006-01")
	var closed struct {
		Invoices []billing.InvoiceView `json:"invoices"`
	}
	s.ok(t, 200, req{method: "POST", path: "/v1/admin/billing/close", key: testAdminToken, body: map[string]any{"period": period}}, &closed)
	var list struct {
		Invoices []billing.InvoiceView `json:"invoices"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/billing/invoices", key: key}, &list)
	if len(list.Invoices) != 1 {
		t.Fatalf("org invoices %+v", list.Invoices)
	}
	inv := list.Invoices[0]
	if len(closed.Invoices) != 1 || closed.Invoices[0].ID != inv.ID {
		t.Fatalf("close answered %+v, want only %s (no other org used the API last month)", closed.Invoices, inv.ID)
	}
	// By hand from the Starter plan's prices: $49 a month with 50,000 API calls and
	// 1,000,000 tokens included, then $0.50 per 1,000 calls and $2.00 per 1,000,000 tokens.
	// Calls: (62,345 - 50,000) × $0.50 / 1,000 = $6.1725 → $6.17.
	// Tokens: (3,456,789 - 1,000,000) × $2.00 / 1,000,000 = $4.913578 → $4.91.
	// Total: $49 + $6.17 + $4.91 = $60.08.
	const baseCents, inclCalls, callCentsPer1K, inclTokens, tokenCentsPer1M = 4900, 50_000, 50, 1_000_000, 200
	callCents := ((calls-inclCalls)*callCentsPer1K + 500) / 1000
	tokenCents := ((3_456_789-inclTokens)*tokenCentsPer1M + 500_000) / 1_000_000
	if callCents != 617 || tokenCents != 491 || baseCents+callCents+tokenCents != 6008 {
		t.Fatalf("hand computation is off: %d %d", callCents, tokenCents)
	}
	if len(inv.Lines) != 3 || inv.Lines[0].AmountUSD != 49 || inv.Lines[1].AmountUSD != 6.17 || inv.Lines[2].AmountUSD != 4.91 ||
		inv.TotalUSD != 60.08 || inv.Lines[1].Quantity != calls-inclCalls || inv.Lines[2].Quantity != 3_456_789-inclTokens {
		t.Fatalf("invoice %+v, want lines $49 + $6.17 + $4.91 = $60.08", inv)
	}
	if inv.Status != "open" || inv.StripeInvoiceID == nil || !strings.HasPrefix(*inv.StripeInvoiceID, "in_") {
		t.Fatalf("invoice %+v: want open and sent to Stripe", inv)
	}
	var amounts []string
	for _, c := range mock.Calls("/v1/invoiceitems") {
		if c.Form.Get("invoice") == *inv.StripeInvoiceID {
			amounts = append(amounts, c.Form.Get("amount"))
		}
	}
	if strings.Join(amounts, ",") != "4900,617,491" {
		t.Fatalf("Stripe invoice items %v cents, want 4900,617,491", amounts)
	}
	t.Logf("invoice %s: $%.2f = %v cents at Stripe as %s", inv.ID, inv.TotalUSD, amounts, *inv.StripeInvoiceID)

	time.Sleep(500 * time.Millisecond)
	if hits, _ := rc.snapshot(); len(hits) != 0 {
		t.Fatalf("billing.invoice_created before Stripe confirmed the invoice: %+v", hits)
	}

	object := map[string]any{"id": *inv.StripeInvoiceID, "object": "invoice", "status": "draft",
		"metadata": map[string]string{"memoryd_org_id": org.ID, "memoryd_invoice_id": inv.ID}}
	post := func(body []byte, sig string) *reply {
		return s.do(t, req{method: "POST", path: "/v1/stripe/webhook", body: body, header: map[string]string{"Stripe-Signature": sig}})
	}
	status := func() string {
		var v billing.InvoiceView
		s.ok(t, 200, req{method: "GET", path: "/v1/billing/invoices/" + inv.ID, key: key}, &v)
		return v.Status
	}

	// Refused, changing nothing: a wrong secret, a timestamp 10 minutes old, no header.
	bad, badSig := stripetest.SignedEvent(t, "whsec_not_ours", "evt_e2e_created", "invoice.created", object, time.Now())
	old, oldSig := stripetest.SignedEvent(t, e2eStripeSecret, "evt_e2e_created", "invoice.created", object, time.Now().Add(-10*time.Minute))
	for _, c := range []struct {
		body []byte
		sig  string
	}{{bad, badSig}, {old, oldSig}, {old, ""}} {
		r := post(c.body, c.sig)
		if r.Status != 400 || r.Env.Error == nil || r.Env.Error.Code != "INVALID_REQUEST" || r.Env.Error.Details["field"] != "Stripe-Signature" {
			t.Fatalf("refused event answered %d %s", r.Status, r.Raw)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if hits, _ := rc.snapshot(); len(hits) != 0 || status() != "open" {
		t.Fatalf("a refused event changed something: %d hits, status %s", len(hits), status())
	}

	// Signed and fresh: applied, and billing.invoice_created goes out, signed.
	good, sig := stripetest.SignedEvent(t, e2eStripeSecret, "evt_e2e_created", "invoice.created", object, time.Now())
	if r := post(good, sig); r.Status != 200 || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("signed event answered %d %s", r.Status, r.Raw)
	}
	hits := rc.waitHits(t, 1)
	data, _ := hits[0].body["data"].(map[string]any)
	if hits[0].event != "billing.invoice_created" || data["id"] != inv.ID || data["stripe_invoice_id"] != *inv.StripeInvoiceID || data["total_usd"] != 60.08 {
		t.Fatalf("event out %+v", hits[0])
	}
	// The same event again: acknowledged as a replay, applied once.
	if r := post(good, sig); r.Status != 200 || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay answered %d %s %v", r.Status, r.Raw, r.Header)
	}

	failed, failedSig := stripetest.SignedEvent(t, e2eStripeSecret, "evt_e2e_failed", "invoice.payment_failed", object, time.Now())
	for range 2 {
		if r := post(failed, failedSig); r.Status != 200 {
			t.Fatalf("payment_failed answered %d %s", r.Status, r.Raw)
		}
	}
	rc.waitHits(t, 2)
	if st := status(); st != "payment_failed" {
		t.Fatalf("status %s after invoice.payment_failed", st)
	}
	paid, paidSig := stripetest.SignedEvent(t, e2eStripeSecret, "evt_e2e_paid", "invoice.paid", object, time.Now())
	if r := post(paid, paidSig); r.Status != 200 || status() != "paid" {
		t.Fatalf("invoice.paid answered %d %s, status %s", r.Status, r.Raw, status())
	}
	time.Sleep(500 * time.Millisecond)
	hits, badSigs := rc.snapshot()
	if len(hits) != 2 || badSigs != 0 || hits[1].event != "billing.payment_failed" {
		t.Fatalf("events out %+v (%d badly signed), want invoice_created then payment_failed, once each", hits, badSigs)
	}
	t.Logf("Stripe events in: 3 refused, invoice.created (replayed once), payment_failed (twice), paid; out: %s, %s", hits[0].event, hits[1].event)
}
