package main

// Billing end to end: invoices from recorded usage, usage alerts, and signed webhooks
// with retries, against the real binary.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"memoryd/billing"
	"memoryd/store"
)

// receiver is a local webhook endpoint that checks each request's signature.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	secret  string
	fail    int // answer 500 to this many requests first
	hits    []hit
	badSigs int
}

type hit struct {
	id, event string
	status    int
	body      map[string]any
}

func newReceiver(t *testing.T, fail int) *receiver {
	rc := &receiver{fail: fail}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		n, _ := strconv.ParseInt(ts, 10, 64)
		want, err := billing.Sign(rc.secret, id, n, raw)
		if err != nil || want != r.Header.Get("webhook-signature") || time.Since(time.Unix(n, 0)).Abs() > 5*time.Minute {
			rc.badSigs++
		}
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		event, _ := body["event"].(string)
		status := 200
		if rc.fail > 0 {
			rc.fail--
			status = 500
		}
		rc.hits = append(rc.hits, hit{id: id, event: event, status: status, body: body})
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setSecret(s string) { rc.mu.Lock(); rc.secret = s; rc.mu.Unlock() }

func (rc *receiver) snapshot() ([]hit, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...), rc.badSigs
}

// waitHits waits until the receiver has had n requests.
func (rc *receiver) waitHits(t *testing.T, n int) []hit {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		hits, _ := rc.snapshot()
		if len(hits) >= n {
			return hits
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver got %d requests, want %d", len(hits), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type webhookCreated struct {
	ID     string   `json:"id"`
	Secret string   `json:"secret"`
	Events []string `json:"events"`
}

type deliveryJSON struct {
	ID             string `json:"id"`
	Event          string `json:"event"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
	ResponseStatus *int   `json:"response_status"`
	AttemptLog     []struct {
		AttemptedAt    time.Time `json:"attempted_at"`
		ResponseStatus *int      `json:"response_status"`
		Error          *string   `json:"error"`
	} `json:"attempt_log"`
}

// logLine shows the attempt log as "time status error; …".
func (d deliveryJSON) logLine() string {
	var parts []string
	for _, a := range d.AttemptLog {
		p := a.AttemptedAt.Format("15:04:05.000")
		if a.ResponseStatus != nil {
			p += " " + strconv.Itoa(*a.ResponseStatus)
		}
		if a.Error != nil {
			p += " (" + *a.Error + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// fastBilling makes alert checks and webhook retries take milliseconds.
var fastBilling = []string{"MEMORYD_BILLING_ALERT_INTERVAL=100ms", "MEMORYD_WEBHOOKS_RETRY_BASE=100ms", "MEMORYD_WEBHOOKS_RETRY_MAX=1s"}

// A Starter org's invoice for last month, built from usage recorded then, equals the
// hand computation from the prices set here, to the cent.
func TestInvoiceFromRecordedUsage(t *testing.T) {
	prices := []string{
		"MEMORYD_PLANS_STARTER_PRICE_USD=49", "MEMORYD_PLANS_STARTER_MONTHLY_API_CALLS=10", "MEMORYD_PLANS_STARTER_MONTHLY_TOKENS=1000",
		"MEMORYD_PLANS_STARTER_OVERAGE_API_CALLS_PER_1K=0.50", "MEMORYD_PLANS_STARTER_OVERAGE_TOKENS_PER_1M=2.00",
	}
	s := startServer(t, "", prices...)
	org, key := s.newOrg(t, "Acme", "starter")
	s.stop()

	// Last month's usage, written while the server is down: 2,345 calls, 1,234,567 tokens.
	now := time.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	last := thisMonth.AddDate(0, -1, 0)
	st, err := store.Open(s.data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var evs []store.UsageEvent
	for i := range 2345 {
		ev := store.UsageEvent{OrgID: org.ID, Mode: store.ModeLive, KeyID: "key_e2e", Endpoint: "POST /v1/retrieve", Status: 200,
			At: last.Add(time.Duration(i) * time.Minute)}
		if i == 0 {
			ev.TokensIn, ev.TokensOut = 1_000_000, 234_567
		}
		evs = append(evs, ev)
	}
	if err := st.RecordUsage(evs); err != nil {
		t.Fatal(err)
	}
	st.Close()

	s = startServer(t, s.data, prices...)
	period := last.Format("2006-01")
	s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/admin/billing/close", key: testAdminToken,
		body: map[string]any{"period": thisMonth.Format("2006-01")}})
	s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/admin/billing/close", key: testAdminToken,
		body: map[string]any{"period": "2026-13"}})

	var closed struct {
		Invoices []billing.InvoiceView `json:"invoices"`
	}
	s.ok(t, 200, req{method: "POST", path: "/v1/admin/billing/close", key: testAdminToken, body: map[string]any{"period": period}}, &closed)
	if len(closed.Invoices) != 1 {
		t.Fatalf("%d invoices, want 1 (the default org was created after the month): %+v", len(closed.Invoices), closed.Invoices)
	}
	inv := closed.Invoices[0]
	// By hand: $49; (2,345 - 10) × $0.50/1,000 = $1.1675 → $1.17; (1,234,567 - 1,000) ×
	// $2.00/1,000,000 = $2.467134 → $2.47; total $52.64.
	amounts := []float64{}
	for _, l := range inv.Lines {
		amounts = append(amounts, l.AmountUSD)
	}
	if len(amounts) != 3 || amounts[0] != 49 || amounts[1] != 1.17 || amounts[2] != 2.47 || inv.TotalUSD != 52.64 || inv.SubtotalUSD != 52.64 {
		t.Fatalf("invoice %+v: amounts %v total %v, want [49 1.17 2.47] 52.64", inv, amounts, inv.TotalUSD)
	}
	if inv.Lines[1].Quantity != 2335 || inv.Lines[2].Quantity != 1_233_567 || !inv.Period.Start.Equal(last) || inv.Status != "open" {
		t.Fatalf("invoice %+v", inv)
	}
	t.Logf("invoice %s for %s: lines %v, total $%.2f", inv.ID, period, amounts, inv.TotalUSD)

	var again struct {
		Invoices []billing.InvoiceView `json:"invoices"`
	}
	s.ok(t, 200, req{method: "POST", path: "/v1/admin/billing/close", key: testAdminToken, body: map[string]any{"period": period}}, &again)
	if len(again.Invoices) != 1 || again.Invoices[0].ID != inv.ID || again.Invoices[0].TotalUSD != inv.TotalUSD {
		t.Fatalf("closing twice gave %+v, want the same invoice", again.Invoices)
	}

	var list struct {
		Invoices   []billing.InvoiceView `json:"invoices"`
		NextCursor *string               `json:"next_cursor"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/billing/invoices", key: key}, &list)
	if len(list.Invoices) != 1 || list.Invoices[0].ID != inv.ID || list.NextCursor != nil {
		t.Fatalf("invoice list %+v", list)
	}
	var one billing.InvoiceView
	s.ok(t, 200, req{method: "GET", path: "/v1/billing/invoices/" + inv.ID, key: key}, &one)
	if one.TotalUSD != 52.64 {
		t.Fatalf("invoice %+v", one)
	}
	s.fails(t, 404, "NOT_FOUND", req{method: "GET", path: "/v1/billing/invoices/" + strings.Replace(inv.ID, "inv_0", "inv_1", 1), key: key})
	read := s.newKey(t, key, "live", "read")
	s.fails(t, 403, "INSUFFICIENT_SCOPE", req{method: "GET", path: "/v1/billing/invoices", key: read.Key})
	test := s.newKey(t, key, "test", "admin")
	s.ok(t, 200, req{method: "GET", path: "/v1/billing/invoices", key: test.Key}, &list)
	if len(list.Invoices) != 0 {
		t.Fatalf("test mode sees invoices: %+v", list)
	}
	_, otherKey := s.newOrg(t, "Other", "starter")
	s.fails(t, 404, "NOT_FOUND", req{method: "GET", path: "/v1/billing/invoices/" + inv.ID, key: otherKey})

	r := s.do(t, req{method: "GET", path: "/v1/admin/billing/invoices?period=" + period + "&format=csv", key: testAdminToken})
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(string(r.Raw), inv.ID+","+org.ID+",starter,") || !strings.Contains(string(r.Raw), ",2335,0.0005,1.17,52.64,") {
		t.Fatalf("csv export: %d %s", r.Status, r.Raw)
	}
	var export struct {
		Invoices []struct {
			OrgID    string  `json:"org_id"`
			TotalUSD float64 `json:"total_usd"`
		} `json:"invoices"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/admin/billing/invoices?period=" + period, key: testAdminToken}, &export)
	if len(export.Invoices) != 1 || export.Invoices[0].OrgID != org.ID || export.Invoices[0].TotalUSD != 52.64 {
		t.Fatalf("json export %+v", export)
	}
}

// An alert at 80% of the API-call quota fires exactly once when crossed, delivered to
// a local receiver whose signature check passes; the receiver fails twice, gets the
// event on the third attempt, and the delivery log shows all three.
func TestAlertFiresOnceToWebhook(t *testing.T) {
	s := startServer(t, "", append(fastBilling, "MEMORYD_PLANS_STARTER_MONTHLY_API_CALLS=10")...)
	_, key := s.newOrg(t, "Alerted", "starter")
	rc := newReceiver(t, 2)

	var hook webhookCreated
	s.ok(t, 201, req{method: "POST", path: "/v1/webhooks", key: key,
		body: map[string]any{"url": rc.URL + "/hooks", "events": []string{"usage.threshold_reached"}}}, &hook) // call 1
	if !strings.HasPrefix(hook.Secret, "whsec_") {
		t.Fatalf("secret %q", hook.Secret)
	}
	rc.setSecret(hook.Secret)
	var alert struct {
		ID              string     `json:"id"`
		LastTriggeredAt *time.Time `json:"last_triggered_at"`
	}
	s.ok(t, 201, req{method: "POST", path: "/v1/alerts", key: key, body: map[string]any{
		"metric": "api_calls", "threshold": 80, "threshold_type": "percent_of_limit", "notify": []string{"webhook", "email"}}}, &alert) // call 2
	s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/alerts", key: key, body: map[string]any{
		"metric": "api_calls", "threshold": 80, "threshold_type": "percent_of_limit", "notify": []string{"sms"}}}) // call 3

	for range 4 { // calls 4-7: below 8 = 80% of 10
		s.ok(t, 200, req{method: "GET", path: "/v1/account", key: key}, nil)
	}
	time.Sleep(500 * time.Millisecond)
	if hits, _ := rc.snapshot(); len(hits) != 0 {
		t.Fatalf("alert fired below its threshold: %+v", hits)
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account", key: key}, nil) // call 8: crosses
	hits := rc.waitHits(t, 3)
	for range 5 {
		s.ok(t, 200, req{method: "GET", path: "/v1/account", key: key}, nil)
	}
	time.Sleep(time.Second)
	hits, bad := rc.snapshot()
	if len(hits) != 3 || bad != 0 {
		t.Fatalf("receiver got %d requests (%d with bad signatures), want one event in 3 signed attempts: %+v", len(hits), bad, hits)
	}
	for i, h := range hits {
		data, _ := h.body["data"].(map[string]any)
		if h.event != "usage.threshold_reached" || h.id != hits[0].id || !strings.HasPrefix(h.id, "evt_") || data["id"] != alert.ID || data["value"].(float64) < 8 ||
			h.status != []int{500, 500, 200}[i] {
			t.Fatalf("attempt %d: %+v", i+1, h)
		}
	}
	data, _ := hits[0].body["data"].(map[string]any)
	t.Logf("alert %s fired once: event %s, webhook-id %s, value %v, signature verified on each of %d attempts", alert.ID, hits[0].event, hits[0].id, data["value"], len(hits))

	var deliveries struct {
		Deliveries []deliveryJSON `json:"deliveries"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/webhooks/" + hook.ID + "/deliveries", key: key}, &deliveries)
	if len(deliveries.Deliveries) != 1 {
		t.Fatalf("deliveries %+v", deliveries)
	}
	d := deliveries.Deliveries[0]
	if d.ID != hits[0].id || d.Status != "succeeded" || d.Attempts != 3 || len(d.AttemptLog) != 3 {
		t.Fatalf("delivery %+v", d)
	}
	for i, a := range d.AttemptLog {
		want := []int{500, 500, 200}[i]
		if a.ResponseStatus == nil || *a.ResponseStatus != want || (want == 200) != (a.Error == nil) || a.AttemptedAt.IsZero() ||
			(i > 0 && !a.AttemptedAt.After(d.AttemptLog[i-1].AttemptedAt)) {
			t.Fatalf("attempt %d in the log: %+v", i+1, a)
		}
	}
	t.Logf("delivery log of %s: %s", d.ID, d.logLine())

	var alerts struct {
		Alerts []struct {
			ID              string     `json:"id"`
			LastTriggeredAt *time.Time `json:"last_triggered_at"`
		} `json:"alerts"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/alerts", key: key}, &alerts)
	if len(alerts.Alerts) != 1 || alerts.Alerts[0].LastTriggeredAt == nil {
		t.Fatalf("alerts %+v", alerts)
	}
	if !strings.Contains(s.stderr.String(), "not sent: SMTP not configured") {
		t.Fatalf("the email notice did not record why it was not sent; stderr:\n%s", s.stderr.String())
	}
	s.ok(t, 200, req{method: "DELETE", path: "/v1/alerts/" + alert.ID, key: key}, nil)
	s.fails(t, 404, "NOT_FOUND", req{method: "DELETE", path: "/v1/alerts/" + alert.ID, key: key})
}

// A receiver that fails twice then succeeds gets the event on the third attempt, and
// the delivery log shows all three.
func TestWebhookRetriesUntilDelivered(t *testing.T) {
	s := startServer(t, "", fastBilling...)
	_, key := s.newOrg(t, "Hooked", "pro")
	rc := newReceiver(t, 2)

	s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/webhooks", key: key,
		body: map[string]any{"url": "ftp://example.com/x", "events": []string{"memory.created"}}})
	s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/webhooks", key: key,
		body: map[string]any{"url": rc.URL, "events": []string{"memory.exploded"}}})
	var hook webhookCreated
	s.ok(t, 201, req{method: "POST", path: "/v1/webhooks", key: key,
		body: map[string]any{"url": rc.URL, "events": []string{"memory.created", "memory.deleted"}}}, &hook)
	rc.setSecret(hook.Secret)
	var list struct {
		Webhooks []map[string]any `json:"webhooks"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/webhooks", key: key}, &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0]["secret"] != nil {
		t.Fatalf("webhook list shows %+v", list)
	}

	// Test-mode writes send nothing; a live one does.
	test := s.newKey(t, key, "test", "write")
	s.createMemory(t, test.Key, map[string]any{"text": "sandbox only"})
	m := s.createMemory(t, key, map[string]any{"text": "User prefers dark mode"})

	hits := rc.waitHits(t, 3)
	time.Sleep(300 * time.Millisecond)
	hits, bad := rc.snapshot()
	if len(hits) != 3 || bad != 0 {
		t.Fatalf("receiver got %d requests (%d badly signed), want 3: %+v", len(hits), bad, hits)
	}
	for i, h := range hits {
		want := 500
		if i == 2 {
			want = 200
		}
		data, _ := h.body["data"].(map[string]any)
		if h.id != hits[0].id || h.event != "memory.created" || h.status != want || data["id"] != m.ID {
			t.Fatalf("attempt %d: %+v", i+1, h)
		}
	}
	var deliveries struct {
		Deliveries []deliveryJSON `json:"deliveries"`
		NextCursor *string        `json:"next_cursor"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/webhooks/" + hook.ID + "/deliveries", key: key}, &deliveries)
	if len(deliveries.Deliveries) != 1 {
		t.Fatalf("deliveries %+v", deliveries)
	}
	d := deliveries.Deliveries[0]
	if d.ID != hits[0].id || d.Status != "succeeded" || d.Attempts != 3 || d.ResponseStatus == nil || *d.ResponseStatus != 200 ||
		len(d.AttemptLog) != 3 || *d.AttemptLog[0].ResponseStatus != 500 || *d.AttemptLog[1].ResponseStatus != 500 || d.AttemptLog[2].Error != nil {
		t.Fatalf("delivery %+v", d)
	}
	t.Logf("delivery %s: status %s after %d attempts (receiver saw %d, %d, %d)", d.ID, d.Status, d.Attempts, hits[0].status, hits[1].status, hits[2].status)

	s.ok(t, 200, req{method: "DELETE", path: "/v1/webhooks/" + hook.ID, key: key}, nil)
	s.fails(t, 404, "NOT_FOUND", req{method: "GET", path: "/v1/webhooks/" + hook.ID + "/deliveries", key: key})
}

// An org that reaches its monthly API-call quota is announced once, as
// usage.quota_exceeded with the metric, the limit and the count, signed.
func TestWebhookQuotaExceededOnce(t *testing.T) {
	s := startServer(t, "", append(fastBilling, "MEMORYD_PLANS_STARTER_MONTHLY_API_CALLS=5")...)
	_, key := s.newOrg(t, "Capped", "starter")
	rc := newReceiver(t, 0)
	var hook webhookCreated
	s.ok(t, 201, req{method: "POST", path: "/v1/webhooks", key: key,
		body: map[string]any{"url": rc.URL, "events": []string{"usage.quota_exceeded"}}}, &hook) // call 1
	rc.setSecret(hook.Secret)
	for range 3 { // calls 2-4: below the quota of 5
		s.ok(t, 200, req{method: "GET", path: "/v1/account", key: key}, nil)
	}
	time.Sleep(500 * time.Millisecond)
	if hits, _ := rc.snapshot(); len(hits) != 0 {
		t.Fatalf("quota_exceeded below the quota: %+v", hits)
	}
	for range 3 { // call 5 reaches the quota; what comes after is refused or billed as overage
		s.do(t, req{method: "GET", path: "/v1/account", key: key})
	}
	rc.waitHits(t, 1)
	time.Sleep(time.Second) // several more checks of the alert loop
	hits, bad := rc.snapshot()
	if len(hits) != 1 || bad != 0 {
		t.Fatalf("receiver got %d requests (%d badly signed), want the event once: %+v", len(hits), bad, hits)
	}
	data, _ := hits[0].body["data"].(map[string]any)
	if hits[0].event != "usage.quota_exceeded" || data["metric"] != "api_calls" || data["limit"] != 5.0 || data["used"].(float64) < 5 {
		t.Fatalf("event %+v", hits[0])
	}
	t.Logf("usage.quota_exceeded once: %v", data)
}
