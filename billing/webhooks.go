package billing

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"memoryd/store"
)

// Webhook events.
const (
	EventThresholdReached = "usage.threshold_reached"
	EventQuotaExceeded    = "usage.quota_exceeded"
	EventInvoiceCreated   = "billing.invoice_created"
	EventPaymentFailed    = "billing.payment_failed"
	EventMemoryCreated    = "memory.created"
	EventMemoryUpdated    = "memory.updated"
	EventMemoryDeleted    = "memory.deleted"
)

// Events lists every event an endpoint can subscribe to.
var Events = []string{EventThresholdReached, EventQuotaExceeded, EventInvoiceCreated, EventPaymentFailed,
	EventMemoryCreated, EventMemoryUpdated, EventMemoryDeleted}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// MaxWebhooks caps an org's endpoints.
const MaxWebhooks = 20

// ErrTooManyWebhooks is returned when an org already has MaxWebhooks endpoints.
var ErrTooManyWebhooks = errors.New("billing: an org may have at most 20 webhook endpoints")

// LoadWebhooks fills the subscription cache from the store; call it once at start.
func (s *Service) LoadWebhooks() error {
	all, err := s.st.AllWebhooks()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = map[string][]store.Webhook{}
	for _, w := range all {
		s.subs[w.OrgID] = append(s.subs[w.OrgID], w)
	}
	return nil
}

// newSecret is a Standard Webhooks secret: whsec_ and base64 of 24 random bytes.
func newSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := crand.Read(b); err != nil {
		return "", err
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}

// CreateWebhook subscribes url to events for the org; the returned endpoint holds its
// secret, which is shown only this once.
func (s *Service) CreateWebhook(orgID, url string, events []string) (store.Webhook, error) {
	secret, err := newSecret()
	if err != nil {
		return store.Webhook{}, err
	}
	w := store.Webhook{ID: store.NewID("whk_"), OrgID: orgID, URL: url, Events: events, Secret: secret, CreatedAt: s.now().UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.subs[orgID]) >= MaxWebhooks {
		return store.Webhook{}, ErrTooManyWebhooks
	}
	if err := s.st.PutWebhook(w); err != nil {
		return store.Webhook{}, err
	}
	s.subs[orgID] = append(slices.Clip(s.subs[orgID]), w)
	return w, nil
}

// DeleteWebhook removes an endpoint; its pending deliveries are dropped.
func (s *Service) DeleteWebhook(orgID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.DeleteWebhook(orgID, id); err != nil {
		return err
	}
	s.subs[orgID] = slices.DeleteFunc(slices.Clone(s.subs[orgID]), func(w store.Webhook) bool { return w.ID == id })
	if len(s.subs[orgID]) == 0 {
		delete(s.subs, orgID)
	}
	return nil
}

// Subscribed reports whether any endpoint of the org listens to event: a map lookup,
// so callers on the write path can skip building the event.
func (s *Service) Subscribed(orgID, event string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, w := range s.subs[orgID] {
		if slices.Contains(w.Events, event) {
			return true
		}
	}
	return false
}

// Emit queues event for every endpoint of the org subscribed to it. The deliveries are
// committed before Emit returns, so an event survives a restart; sending is the
// worker's job.
func (s *Service) Emit(orgID, event string, data any) {
	s.mu.RLock()
	var targets []store.Webhook
	for _, w := range s.subs[orgID] {
		if slices.Contains(w.Events, event) {
			targets = append(targets, w)
		}
	}
	s.mu.RUnlock()
	if len(targets) == 0 {
		return
	}
	now := s.now().UTC()
	payload, err := json.Marshal(map[string]any{"event": event, "timestamp": now.Format(time.RFC3339), "data": data})
	if err != nil {
		s.log.Error("encode webhook event", "event", event, "err", err)
		return
	}
	id := store.NewID("evt_")
	for _, w := range targets {
		d := store.Delivery{ID: id, OrgID: orgID, WebhookID: w.ID, Event: event, Payload: payload,
			Status: DeliveryPending, Attempts: []store.DeliveryAttempt{}, CreatedAt: now, NextAttemptAt: &now}
		if err := s.st.PutDelivery(d); err != nil {
			s.log.Error("queue webhook delivery", "org_id", orgID, "event", event, "err", err)
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Sign returns the Standard Webhooks signature header value of one message.
func Sign(secret, msgID string, ts int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", fmt.Errorf("billing: webhook secret: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", msgID, ts)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// backoff is the wait after the n-th failed attempt: RetryBase doubling up to
// RetryMax, with jitter (half fixed, half random) so failed endpoints are not hit in
// lockstep.
func (s *Service) backoff(n int) time.Duration {
	d := s.cfg.Webhooks.RetryBase.Duration
	for i := 1; i < n && d < s.cfg.Webhooks.RetryMax.Duration; i++ {
		d *= 2
	}
	d = min(d, s.cfg.Webhooks.RetryMax.Duration)
	return d/2 + rand.N(d/2+1)
}

// deliverDue starts an attempt for each pending delivery whose time has come.
func (s *Service) deliverDue(ctx context.Context, wg *sync.WaitGroup) {
	pending, err := s.st.PendingDeliveries()
	if err != nil {
		s.log.Error("read webhook queue", "err", err)
		return
	}
	now := s.now()
	for _, d := range pending {
		if d.NextAttemptAt != nil && d.NextAttemptAt.After(now) {
			continue
		}
		key := d.OrgID + "|" + d.WebhookID + "/" + d.ID
		s.inflightMu.Lock()
		busy := s.inflight[key] || len(s.inflight) >= 32
		if !busy {
			s.inflight[key] = true
		}
		s.inflightMu.Unlock()
		if busy {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.attempt(ctx, d)
			s.inflightMu.Lock()
			delete(s.inflight, key)
			s.inflightMu.Unlock()
		}()
	}
}

// attempt sends one delivery once and records the outcome.
func (s *Service) attempt(ctx context.Context, d store.Delivery) {
	w, err := s.st.GetWebhook(d.OrgID, d.WebhookID)
	if errors.Is(err, store.ErrWebhookNotFound) {
		d.Status, d.NextAttemptAt = DeliveryFailed, nil
		_ = s.st.PutDelivery(d)
		return
	}
	if err != nil {
		s.log.Error("read webhook", "err", err)
		return
	}
	at := s.now().UTC()
	status, sendErr := s.send(ctx, w, d, at)
	if ctx.Err() != nil && sendErr != nil {
		return // shutting down: the attempt does not count, it runs again after restart
	}
	a := store.DeliveryAttempt{At: at, Status: status}
	if sendErr != nil {
		a.Error = sendErr.Error()
	}
	d.Attempts = append(d.Attempts, a)
	switch {
	case sendErr == nil && status >= 200 && status < 300:
		d.Status, d.NextAttemptAt = DeliverySucceeded, nil
	case len(d.Attempts) >= s.cfg.Webhooks.MaxAttempts:
		d.Status, d.NextAttemptAt = DeliveryFailed, nil
	default:
		next := s.now().UTC().Add(s.backoff(len(d.Attempts)))
		d.NextAttemptAt = &next
	}
	if err := s.st.PutDelivery(d); err != nil {
		s.log.Error("record webhook delivery", "err", err)
	}
}

func (s *Service) send(ctx context.Context, w store.Webhook, d store.Delivery, at time.Time) (int, error) {
	ts := at.Unix()
	sig, err := Sign(w.Secret, d.ID, ts, d.Payload)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "memoryd-webhooks/1")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, errors.New("request failed: " + cleanErr(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// cleanErr keeps an error's last part: the URL is the customer's own, the cause is
// what helps them.
func cleanErr(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
