package api

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"memoryd/memory"
	"memoryd/meter"
	"memoryd/store"
)

// Scopes a key may hold; admin implies the others.
var allScopes = []string{"read", "write", "delete", "admin"}

// principal is who is calling: a key of an org, in one mode.
type principal struct {
	key store.APIKey
	org store.Org
}

func (p *principal) tenant() memory.Tenant {
	return memory.Tenant{OrgID: p.org.ID, Mode: p.key.Mode}
}

func (p *principal) has(scope string) bool {
	return slices.Contains(p.key.Scopes, "admin") || slices.Contains(p.key.Scopes, scope)
}

func caller(r *http.Request) *principal { return info(r).principal }

// wellFormedKey checks the mem_live_/mem_test_ + 32 [A-Za-z0-9] shape.
func wellFormedKey(k string) bool {
	var rest string
	switch {
	case strings.HasPrefix(k, "mem_live_"):
		rest = k[len("mem_live_"):]
	case strings.HasPrefix(k, "mem_test_"):
		rest = k[len("mem_test_"):]
	default:
		return false
	}
	if len(rest) != store.KeyRandomLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(h[7:]), true
}

// authenticate resolves the request's API key, or the dashboard's session cookie when
// no key is sent, to a principal, or says why not.
func (s *Server) authenticate(r *http.Request) (*principal, *Error) {
	raw, ok := bearer(r)
	if !ok {
		if sess, _ := s.fromCookie(r, customerCookie); sess != nil {
			if e := csrfOK(r, sess); e != nil {
				return nil, e
			}
			return s.principalFor(sess.keyHash)
		}
		return nil, errInvalidKey("Missing API key: send Authorization: Bearer <key>")
	}
	if !wellFormedKey(raw) {
		return nil, errInvalidKey("Malformed API key")
	}
	return s.principalFor(s.store.HashKey(raw))
}

// principalFor resolves a key by its hash, checking it is still valid now.
func (s *Server) principalFor(hash string) (*principal, *Error) {
	cached, ok := s.keys.get(hash)
	if !ok {
		gen := s.keys.generation()
		key, err := s.store.KeyByHash(hash)
		if errors.Is(err, store.ErrKeyNotFound) {
			return nil, errInvalidKey("Unknown API key")
		}
		if err != nil {
			return nil, errInternal
		}
		org, err := s.store.GetOrg(key.OrgID)
		if errors.Is(err, store.ErrOrgNotFound) {
			return nil, errInvalidKey("Unknown API key")
		}
		if err != nil {
			return nil, errInternal
		}
		cached = &principal{key: key, org: org}
		s.keys.put(hash, cached, gen)
	}
	key := cached.key
	now := s.now()
	if key.RevokedAt != nil {
		return nil, errInvalidKey("This API key was revoked")
	}
	if key.ExpiresAt != nil && !now.Before(*key.ExpiresAt) {
		if key.RotatedTo != "" {
			return nil, errInvalidKey("This API key was rotated and its grace period has ended")
		}
		return nil, errInvalidKey("This API key has expired")
	}
	s.touches.mark(key.OrgID, key.ID, now)
	// The cached principal is shared by every request of its key: none changes it,
	// and a change to a key or an org clears the cache instead.
	return cached, nil
}

// keyCache keeps resolved keys so a request costs no store reads for auth. Every
// change to a key or an org goes through this process and clears it, so a revoked
// key fails on the very next request; expiry is checked on each use.
type keyCache struct {
	mu  sync.RWMutex
	gen uint64
	m   map[string]*principal
}

func (c *keyCache) get(hash string) (*principal, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.m[hash]
	return p, ok
}

func (c *keyCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores p unless the cache was cleared since gen was read: a lookup that raced
// with a revocation must not bring the old key back.
func (c *keyCache) put(hash string, p *principal, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.m == nil || len(c.m) > 100_000 {
		c.m = map[string]*principal{}
	}
	c.m[hash] = p
}

// clear forgets every key; called after any key or org change.
func (c *keyCache) clear() {
	c.mu.Lock()
	c.gen++
	c.m = nil
	c.mu.Unlock()
}

// handlerFunc is a handler that may fail with an error answered in the envelope.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// withKey wraps a tenant handler: API key, limits, scope, body, then idempotency for
// POSTs; afterwards the request's usage is counted.
func (s *Server) withKey(scope string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, e := s.authenticate(r)
		if e != nil {
			fail(w, r, e)
			return
		}
		ri := info(r)
		ri.orgID, ri.keyID = p.org.ID, p.key.ID
		adm, denial := s.meter.Admit(p.org, p.key.Mode)
		if denial != nil {
			setRateHeaders(w, denial.Admission)
			fail(w, r, denialError(w, denial))
			return
		}
		defer adm.Done()
		setRateHeaders(w, *adm)
		if !p.has(scope) {
			fail(w, r, errScope(scope))
			return
		}
		ri.principal = p
		if e = s.readBody(w, r); e != nil {
			fail(w, r, e)
			return
		}
		s.idempotent(w, r, p.org.ID, p.key.Mode, h)
		if !ri.committed && billable(ri.status) {
			ri.work.memoriesWritten = 0 // a write that did not commit wrote nothing
			s.meter.Record(s.usageEvent(r, p), false)
		}
	})
}

// billable reports whether a request answered with status counts as an API call: it
// was served, or refused for its own input; not when the server failed, nor when auth,
// scope, limits or quotas turned it away.
func billable(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusPaymentRequired, http.StatusForbidden, http.StatusTooManyRequests:
		return false
	}
	return status > 0 && status < 500
}

// usageEvent describes the request's work for metering.
func (s *Server) usageEvent(r *http.Request, p *principal) store.UsageEvent {
	ri := info(r)
	return store.UsageEvent{
		OrgID: p.org.ID, Mode: p.key.Mode, KeyID: p.key.ID, Endpoint: r.Pattern, Status: ri.status,
		TokensIn: ri.work.tokensIn, TokensOut: ri.work.tokensOut,
		MemoriesRead: ri.work.memoriesRead, MemoriesWritten: ri.work.memoriesWritten,
		Embeddings: ri.work.embeddings, ModelCalls: ri.work.modelCalls, CostMicros: ri.work.costMicros,
		PrefilterTokensSaved: ri.work.prefilterTokensSaved,
		RequestID:            ri.id, DurationMS: float64(time.Since(ri.start).Microseconds()) / 1000, At: ri.start.UTC(),
	}
}

// writeChange prepares a write: its history source, the request's usage event to
// commit in the write's transaction, and the org's cap on stored memories.
func (s *Server) writeChange(r *http.Request, source string, status int) store.Change {
	p := caller(r)
	ev := s.usageEvent(r, p)
	ev.Status = status
	return store.Change{Source: source, Usage: &ev, MaxStored: meter.HardCap(s.cfg, p.org, "memories_stored")}
}

// committed records that a write's usage event is in the store, and counts it.
func (s *Server) committed(r *http.Request, ch store.Change) {
	ri := info(r)
	ri.committed = true
	ri.work.memoriesWritten = ch.Usage.MemoriesWritten
	s.meter.Record(*ch.Usage, true)
}

func setRateHeaders(w http.ResponseWriter, a meter.Admission) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(a.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(a.Remaining))
	h.Set("X-RateLimit-Reset", strconv.Itoa(a.Reset))
}

func denialError(w http.ResponseWriter, d *meter.Denial) *Error {
	if d.Quota {
		return errQuota(d.Metric, d.Limit, d.Used)
	}
	w.Header().Set("Retry-After", strconv.Itoa(d.RetryAfter))
	what := map[string]string{"minute": "requests/minute", "day": "requests/day", "concurrent": "concurrent requests"}[d.Window]
	return newError(http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED",
		fmt.Sprintf("Rate limit of %d %s exceeded", d.Limit, what),
		map[string]any{"retry_after": d.RetryAfter, "limit": d.Limit, "window": d.Window})
}

func errQuota(metric string, limit, used int64) *Error {
	return newError(http.StatusPaymentRequired, "QUOTA_EXCEEDED",
		fmt.Sprintf("Monthly quota of %d %s reached; upgrade the plan to go beyond it", limit, strings.ReplaceAll(metric, "_", " ")),
		map[string]any{"metric": metric, "limit": limit, "used": used})
}

// withAdmin wraps an operator handler: the admin token, or the operator's dashboard
// session. With neither a token nor a password configured the operator API does not exist.
func (s *Server) withAdmin(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.operatorEnabled() {
			fail(w, r, errNotFound("NOT_FOUND", "Route"))
			return
		}
		if raw, ok := bearer(r); ok {
			if !s.adminTokenOK(raw) {
				fail(w, r, errInvalidKey("Invalid admin token"))
				return
			}
		} else if sess, _ := s.fromCookie(r, operatorCookie); sess != nil {
			if e := csrfOK(r, sess); e != nil {
				fail(w, r, e)
				return
			}
		} else {
			fail(w, r, errInvalidKey("Invalid admin token"))
			return
		}
		if e := s.readBody(w, r); e != nil {
			fail(w, r, e)
			return
		}
		s.idempotent(w, r, "", store.ModeLive, h)
	})
}

func run(w http.ResponseWriter, r *http.Request, h handlerFunc) {
	if err := h(w, r); err != nil {
		failErr(w, r, err)
	}
}

// keyTouches batches last_used_at updates: writing them per request would put a
// write transaction on every read.
type keyTouches struct {
	mu   sync.Mutex
	seen map[[2]string]time.Time
}

func (t *keyTouches) mark(orgID, keyID string, at time.Time) {
	t.mu.Lock()
	if t.seen == nil {
		t.seen = map[[2]string]time.Time{}
	}
	t.seen[[2]string{orgID, keyID}] = at
	t.mu.Unlock()
}

func (t *keyTouches) take() map[[2]string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.seen
	t.seen = nil
	return m
}

// adminTokenOK compares in constant time, so timing tells nothing of the token.
func (s *Server) adminTokenOK(raw string) bool {
	return s.cfg.Admin.Token != "" && subtle.ConstantTimeCompare([]byte(raw), []byte(s.cfg.Admin.Token)) == 1
}
