package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Dashboard sign-in. A browser trades an API key (or the operator's password or token)
// for a session cookie: HttpOnly, so page scripts never hold the secret, and
// SameSite=Strict, so other sites' pages cannot send it. Writes made with the cookie
// must also carry the session's CSRF token in a header, which only the dashboard's own
// scripts can read (answers never allow credentials cross-origin). Sessions live in
// memory: a restart signs everyone out.
const (
	customerCookie = "memoryd_session"
	operatorCookie = "memoryd_operator"
	csrfHeader     = "X-CSRF-Token"
	maxSessions    = 100_000
)

type session struct {
	keyHash  string // the customer's key, resolved on every request so revocation ends the session
	operator bool
	csrf     string
	expires  time.Time
}

// sessions maps the SHA-256 of each session id to its session: the ids themselves are
// kept only by the browsers.
type sessions struct {
	mu sync.Mutex
	m  map[[32]byte]*session
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create stores sess and returns its id.
func (ss *sessions) create(sess *session, now time.Time) string {
	id := randomToken()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m == nil {
		ss.m = map[[32]byte]*session{}
	}
	if len(ss.m) >= maxSessions {
		for k, v := range ss.m {
			if !now.Before(v.expires) {
				delete(ss.m, k)
			}
		}
		if len(ss.m) >= maxSessions { // still full: drop an arbitrary one rather than grow
			for k := range ss.m {
				delete(ss.m, k)
				break
			}
		}
	}
	ss.m[sha256.Sum256([]byte(id))] = sess
	return id
}

// get returns the live session of id, forgetting it if it has expired.
func (ss *sessions) get(id string, now time.Time) *session {
	k := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sess := ss.m[k]
	if sess != nil && !now.Before(sess.expires) {
		delete(ss.m, k)
		return nil
	}
	return sess
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	delete(ss.m, sha256.Sum256([]byte(id)))
	ss.mu.Unlock()
}

// fromCookie returns the request's session of the cookie's kind, and its id.
func (s *Server) fromCookie(r *http.Request, name string) (*session, string) {
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return nil, ""
	}
	sess := s.sessions.get(c.Value, s.now())
	if sess == nil || sess.operator != (name == operatorCookie) {
		return nil, ""
	}
	return sess, c.Value
}

// csrfOK checks a cookie-authenticated request: reads pass; anything else must carry
// the session's token, and, when the browser names an Origin, come from this host.
func csrfOK(r *http.Request, sess *session) *Error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return invalid("Origin", "Requests signed in with a session cookie must come from the dashboard's own origin")
		}
	}
	got := r.Header.Get(csrfHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
		return invalid(csrfHeader, "Requests signed in with a session cookie must send the session's %s header", csrfHeader)
	}
	return nil
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, name, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: id, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func (s *Server) sessionView(sess *session, extra map[string]any) map[string]any {
	out := map[string]any{"signed_in": true, "csrf_token": sess.csrf, "expires_at": sess.expires}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func callerView(p *principal) map[string]any {
	return map[string]any{
		"org":     map[string]any{"id": p.org.ID, "name": p.org.Name, "plan": p.org.Plan, "created_at": p.org.CreatedAt},
		"api_key": map[string]any{"id": p.key.ID, "prefix": p.key.Prefix, "scopes": p.key.Scopes, "mode": p.key.Mode},
	}
}

// readJSON reads a session call's body into v, or answers why it cannot.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	e := s.readBody(w, r)
	if e == nil {
		e = decodeStrict(body(r), v)
	}
	if e != nil {
		fail(w, r, e)
		return false
	}
	return true
}

// createSession signs a browser in with an API key. The call itself is not metered:
// it does no work for the org beyond checking the key.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	var b struct {
		APIKey *string `json:"api_key"`
	}
	ok := s.readJSON(w, r, &b)
	if !ok {
		return
	}
	if b.APIKey == nil || *b.APIKey == "" {
		fail(w, r, invalid("api_key", "api_key is required"))
		return
	}
	if !wellFormedKey(*b.APIKey) {
		fail(w, r, errInvalidKey("Malformed API key"))
		return
	}
	hash := s.store.HashKey(*b.APIKey)
	p, e := s.principalFor(hash)
	if e != nil {
		fail(w, r, e)
		return
	}
	ri := info(r)
	ri.orgID, ri.keyID = p.org.ID, p.key.ID // audited as the key's sign-in
	now := s.now().UTC()
	sess := &session{keyHash: hash, csrf: randomToken(), expires: now.Add(s.cfg.Admin.SessionTTL.Duration)}
	if p.key.ExpiresAt != nil && p.key.ExpiresAt.Before(sess.expires) {
		sess.expires = *p.key.ExpiresAt
	}
	id := s.sessions.create(sess, now)
	s.setSessionCookie(w, r, customerCookie, id, int(sess.expires.Sub(now).Seconds()))
	respond(w, r, http.StatusCreated, s.sessionView(sess, callerView(p)))
}

// getSession answers whether the cookie signs a browser in, as whom, and the session's
// CSRF token, which a reloaded page needs again. Not being signed in is an answer, not
// an error: it is how the page learns to show its sign-in form.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	sess, id := s.fromCookie(r, customerCookie)
	var p *principal
	if sess != nil {
		var e *Error
		if p, e = s.principalFor(sess.keyHash); e != nil { // revoked or expired since
			s.sessions.remove(id)
			sess = nil
		}
	}
	if sess == nil {
		respond(w, r, http.StatusOK, map[string]any{"signed_in": false})
		return
	}
	respond(w, r, http.StatusOK, s.sessionView(sess, callerView(p)))
}

// endSession signs out the session of the cookie name.
func (s *Server) endSession(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name == operatorCookie && !s.operatorEnabled() {
			fail(w, r, errNotFound("NOT_FOUND", "Route"))
			return
		}
		sess, id := s.fromCookie(r, name)
		if sess == nil {
			fail(w, r, errInvalidKey("Not signed in"))
			return
		}
		if e := csrfOK(r, sess); e != nil {
			fail(w, r, e)
			return
		}
		s.sessions.remove(id)
		s.setSessionCookie(w, r, name, "", -1)
		respond(w, r, http.StatusOK, map[string]any{"signed_out": true})
	})
}

// operatorEnabled: the operator API exists when a token or a password is configured.
func (s *Server) operatorEnabled() bool {
	return s.cfg.Admin.Token != "" || s.cfg.Admin.PasswordBcrypt != ""
}

// createOperatorSession signs the operator's browser in with the password or the token.
// Attempts are rate limited (bcrypt already makes each one slow).
func (s *Server) createOperatorSession(w http.ResponseWriter, r *http.Request) {
	if !s.operatorEnabled() {
		fail(w, r, errNotFound("NOT_FOUND", "Route"))
		return
	}
	if res := s.operatorSignins.Reserve(); res.Delay() > 0 {
		res.Cancel()
		retry := 1
		w.Header().Set("Retry-After", "1")
		fail(w, r, newError(http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "Too many operator sign-in attempts; wait a moment",
			map[string]any{"retry_after": retry, "limit": operatorSigninsPerMinute, "window": "minute"}))
		return
	}
	var b struct {
		Password *string `json:"password"`
		Token    *string `json:"token"`
	}
	ok := s.readJSON(w, r, &b)
	if !ok {
		return
	}
	match := false
	switch {
	case b.Password != nil && b.Token != nil:
		fail(w, r, invalid("token", "Send password or token, not both"))
		return
	case b.Password != nil:
		match = s.cfg.Admin.PasswordBcrypt != "" &&
			bcrypt.CompareHashAndPassword([]byte(s.cfg.Admin.PasswordBcrypt), []byte(*b.Password)) == nil
	case b.Token != nil:
		match = s.adminTokenOK(*b.Token)
	default:
		fail(w, r, invalid("password", "password (or token) is required"))
		return
	}
	if !match {
		fail(w, r, errInvalidKey("Wrong operator password or token"))
		return
	}
	now := s.now().UTC()
	sess := &session{operator: true, csrf: randomToken(), expires: now.Add(s.cfg.Admin.SessionTTL.Duration)}
	id := s.sessions.create(sess, now)
	s.setSessionCookie(w, r, operatorCookie, id, int(s.cfg.Admin.SessionTTL.Seconds()))
	respond(w, r, http.StatusCreated, s.sessionView(sess, nil))
}

func (s *Server) getOperatorSession(w http.ResponseWriter, r *http.Request) {
	if !s.operatorEnabled() {
		fail(w, r, errNotFound("NOT_FOUND", "Route"))
		return
	}
	sess, _ := s.fromCookie(r, operatorCookie)
	if sess == nil {
		respond(w, r, http.StatusOK, map[string]any{"signed_in": false})
		return
	}
	respond(w, r, http.StatusOK, s.sessionView(sess, nil))
}

// operatorSigninsPerMinute bounds password guesses across all clients.
const operatorSigninsPerMinute = 30
