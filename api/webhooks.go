package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"memoryd/billing"
	"memoryd/memory"
	"memoryd/store"
)

var errWebhookNotFound = errNotFound("NOT_FOUND", "Webhook")

type webhookView struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"created_at"`
	Secret    string    `json:"secret,omitempty"`
}

func viewWebhook(w store.Webhook) webhookView {
	return webhookView{ID: w.ID, URL: w.URL, Events: w.Events, CreatedAt: w.CreatedAt}
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.store.ListWebhooks(caller(r).org.ID)
	if err != nil {
		return err
	}
	out := make([]webhookView, len(hooks))
	for i, h := range hooks {
		out[i] = viewWebhook(h)
	}
	respond(w, r, http.StatusOK, map[string]any{"webhooks": out})
	return nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		URL    *string  `json:"url"`
		Events []string `json:"events"`
	}
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	if b.URL == nil || len(*b.URL) > 2048 {
		return invalid("url", "url is required, an http or https URL of at most 2048 bytes")
	}
	u, err := url.Parse(*b.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return invalid("url", "url must be an absolute http or https URL without credentials or fragment")
	}
	if len(b.Events) == 0 {
		return invalid("events", "events must name at least one of %s", strings.Join(billing.Events, ", "))
	}
	for i, ev := range b.Events {
		if !slices.Contains(billing.Events, ev) {
			return invalid(fmt.Sprintf("events[%d]", i), "%q is not an event; use %s", ev, strings.Join(billing.Events, ", "))
		}
		if slices.Contains(b.Events[:i], ev) {
			return invalid(fmt.Sprintf("events[%d]", i), "events names %s twice", ev)
		}
	}
	hook, err := s.billing.CreateWebhook(caller(r).org.ID, *b.URL, b.Events)
	if errors.Is(err, billing.ErrTooManyWebhooks) {
		return invalid("", "An org may have at most %d webhook endpoints; delete one first", billing.MaxWebhooks)
	}
	if err != nil {
		return err
	}
	v := viewWebhook(hook)
	v.Secret = hook.Secret
	respond(w, r, http.StatusCreated, v)
	return nil
}

func webhookID(r *http.Request) (string, *Error) {
	id := r.PathValue("id")
	if !store.ValidID(id, "whk_") {
		return "", errWebhookNotFound
	}
	return id, nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	id, e := webhookID(r)
	if e != nil {
		return e
	}
	err := s.billing.DeleteWebhook(caller(r).org.ID, id)
	if errors.Is(err, store.ErrWebhookNotFound) {
		return errWebhookNotFound
	}
	if err != nil {
		return err
	}
	respond(w, r, http.StatusOK, map[string]any{"id": id, "deleted": true})
	return nil
}

type deliveryView struct {
	ID             string        `json:"id"`
	Event          string        `json:"event"`
	Status         string        `json:"status"`
	Attempts       int           `json:"attempts"`
	ResponseStatus *int          `json:"response_status"`
	CreatedAt      time.Time     `json:"created_at"`
	LastAttemptAt  *time.Time    `json:"last_attempt_at"`
	NextAttemptAt  *time.Time    `json:"next_attempt_at"`
	AttemptLog     []attemptView `json:"attempt_log"`
}

type attemptView struct {
	AttemptedAt    time.Time `json:"attempted_at"`
	ResponseStatus *int      `json:"response_status"`
	Error          *string   `json:"error"`
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	id, e := webhookID(r)
	if e != nil {
		return e
	}
	limit, after, e := pageParams(r)
	if e != nil {
		return e
	}
	if after != "" && !store.ValidID(after, "evt_") {
		return invalid("cursor", "cursor is not one this API returned")
	}
	if _, err := s.store.GetWebhook(p.org.ID, id); err != nil {
		if errors.Is(err, store.ErrWebhookNotFound) {
			return errWebhookNotFound
		}
		return err
	}
	ds, next, err := s.store.ListDeliveries(p.org.ID, id, after, limit)
	if err != nil {
		return err
	}
	out := make([]deliveryView, len(ds))
	for i, d := range ds {
		v := deliveryView{ID: d.ID, Event: d.Event, Status: d.Status, Attempts: len(d.Attempts), CreatedAt: d.CreatedAt,
			NextAttemptAt: d.NextAttemptAt, AttemptLog: make([]attemptView, len(d.Attempts))}
		for j, a := range d.Attempts {
			av := attemptView{AttemptedAt: a.At}
			if a.Status != 0 {
				st := a.Status
				av.ResponseStatus = &st
			}
			if a.Error != "" {
				msg := a.Error
				av.Error = &msg
			}
			v.AttemptLog[j] = av
		}
		if n := len(d.Attempts); n > 0 {
			last := d.Attempts[n-1]
			v.LastAttemptAt = &last.At
			if last.Status != 0 {
				st := last.Status
				v.ResponseStatus = &st
			}
		}
		out[i] = v
	}
	respond(w, r, http.StatusOK, map[string]any{"deliveries": out, "next_cursor": encodeCursor(next)})
	return nil
}

// EmitMemoryEvent sends a memory event of a background job (extraction) to the
// org's subscribed endpoints, as emit does for requests.
func (s *Server) EmitMemoryEvent(t memory.Tenant, event string, m store.Memory) {
	if s.billing == nil || t.Mode != store.ModeLive || !s.billing.Subscribed(t.OrgID, event) {
		return
	}
	if event == "memory.deleted" {
		s.billing.Emit(t.OrgID, event, map[string]any{"id": m.ID, "deleted": true})
		return
	}
	s.billing.Emit(t.OrgID, event, viewMemory(m))
}

// emit sends a memory event to the org's subscribed endpoints after a committed write.
// Test-mode writes send nothing: the endpoints belong to the live org. The check is
// a map lookup, so a write nobody listens to pays nothing more.
func (s *Server) emit(r *http.Request, event string, data func() any) {
	p := caller(r)
	if s.billing == nil || p.key.Mode != store.ModeLive || !s.billing.Subscribed(p.org.ID, event) {
		return
	}
	s.billing.Emit(p.org.ID, event, data())
}
