package api

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"memoryd/store"
)

// auditBuffer holds audit events until the next group commit, as the meter does with
// usage events: auditing must not add a write transaction to every request.
type auditBuffer struct {
	mu      sync.Mutex
	pending []store.AuditEvent
}

func (b *auditBuffer) add(ev store.AuditEvent) {
	b.mu.Lock()
	b.pending = append(b.pending, ev)
	b.mu.Unlock()
}

func (b *auditBuffer) take() []store.AuditEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pending
	b.pending = nil
	return p
}

// giveBack requeues events whose commit failed, ahead of newer ones.
func (b *auditBuffer) giveBack(evs []store.AuditEvent) {
	b.mu.Lock()
	b.pending = append(evs, b.pending...)
	b.mu.Unlock()
}

// flushAudit commits the buffered audit events.
func (s *Server) flushAudit() error {
	evs := s.audit.take()
	if len(evs) == 0 {
		return nil
	}
	if err := s.store.RecordAudit(evs); err != nil {
		s.audit.giveBack(evs)
		return err
	}
	return nil
}

// auditRequest queues the audit event of an authenticated request once it is answered.
// The client IP is the connection's peer: a forwarded-for header is the client's own
// claim and is not trusted.
func (s *Server) auditRequest(r *http.Request, ri *reqInfo, status int) {
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	s.audit.add(store.AuditEvent{
		ID: store.NewID("aud_"), At: ri.start.UTC(), OrgID: ri.orgID, KeyID: ri.keyID,
		Endpoint: r.Pattern, IP: ip, UserAgent: clip(r.UserAgent(), 256), RequestID: ri.id,
		Status: status, DurationMS: float64(time.Since(ri.start).Microseconds()) / 1000,
		Tokens: ri.work.tokensIn + ri.work.tokensOut,
	})
}

// clip shortens s to at most n bytes of valid UTF-8.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// auditView is an event as the API shows it.
type auditView struct {
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	OrgID      string    `json:"org_id"`
	KeyID      string    `json:"key_id"`
	Endpoint   string    `json:"endpoint"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	RequestID  string    `json:"request_id"`
	Status     int       `json:"status"`
	DurationMS float64   `json:"duration_ms"`
	Tokens     int64     `json:"tokens"`
}

func viewAudit(ev store.AuditEvent) auditView {
	return auditView{ID: ev.ID, At: ev.At, OrgID: ev.OrgID, KeyID: ev.KeyID, Endpoint: ev.Endpoint, IP: ev.IP,
		UserAgent: ev.UserAgent, RequestID: ev.RequestID, Status: ev.Status, DurationMS: ev.DurationMS, Tokens: ev.Tokens}
}

// getAudit serves GET /v1/account/audit: the caller's org's log.
func (s *Server) getAudit(w http.ResponseWriter, r *http.Request) error {
	return s.serveAudit(w, r, caller(r).org.ID)
}

// adminGetAudit serves GET /v1/admin/orgs/{org_id}/audit for the operator.
func (s *Server) adminGetAudit(w http.ResponseWriter, r *http.Request) error {
	orgID := r.PathValue("org_id")
	if _, err := s.store.GetOrg(orgID); err != nil {
		if errors.Is(err, store.ErrOrgNotFound) {
			return errNotFound("NOT_FOUND", "Org")
		}
		return err
	}
	return s.serveAudit(w, r, orgID)
}

// serveAudit answers a page of events, newest first, or with format=jsonl every event
// kept, oldest first, one JSON object a line.
func (s *Server) serveAudit(w http.ResponseWriter, r *http.Request, orgID string) error {
	limit, after, e := pageParams(r)
	if e != nil {
		return e
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "jsonl" {
		return invalid("format", "format must be json or jsonl")
	}
	// The caller reads its own writes: what is buffered is committed first.
	if err := s.flushAudit(); err != nil {
		return err
	}
	if format != "jsonl" {
		evs, next, err := s.store.ListAudit(orgID, after, limit, false)
		if err != nil {
			return err
		}
		out := make([]auditView, len(evs))
		for i, ev := range evs {
			out[i] = viewAudit(ev)
		}
		respond(w, r, http.StatusOK, map[string]any{"events": out, "next_cursor": encodeCursor(next)})
		return nil
	}
	// Pages of a thousand: no read transaction stays open while a slow client reads.
	evs, next, err := s.store.ListAudit(orgID, after, 1000, true)
	if err != nil {
		return err
	}
	info(r).status = http.StatusOK
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="audit.jsonl"`)
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for {
		for _, ev := range evs {
			if err := enc.Encode(viewAudit(ev)); err != nil {
				return nil // the client went away
			}
		}
		if next == "" {
			return nil
		}
		if evs, next, err = s.store.ListAudit(orgID, next, 1000, true); err != nil {
			s.log.Error("export audit log", "org_id", orgID, "err", err)
			return nil
		}
	}
}
