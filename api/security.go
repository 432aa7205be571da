package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// setSecurityHeaders marks every answer: JSON that browsers must not sniff, frame or
// cache (answers hold users' personal facts), and HSTS on HTTPS. A handler serving a
// page (the docs, the dashboard) replaces the Content-Security-Policy with its own.
func (s *Server) setSecurityHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		h.Set("Cache-Control", "no-store")
	}
	if r.TLS != nil && s.cfg.TLS.HSTSMaxAge.Duration > 0 {
		h.Set("Strict-Transport-Security", "max-age="+strconv.FormatInt(int64(s.cfg.TLS.HSTSMaxAge.Seconds()), 10)+"; includeSubDomains")
	}
}

// corsHeaders are what a browser app may send and read.
var (
	corsAllowHeaders  = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
	corsExposeHeaders = "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, Idempotent-Replayed"
	corsMethods       = "GET, POST, PUT, PATCH, DELETE"
)

// cors adds CORS headers for an allowed Origin and answers its preflight; it reports
// whether the request was a preflight it answered. A disallowed origin gets no CORS
// headers, so the browser keeps its answer from the page. Credentials are never
// allowed: the API authenticates with the Authorization header only.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	allowed := s.cfg.CORS.AllowedOrigins
	switch {
	case slices.Contains(allowed, origin):
		h.Set("Access-Control-Allow-Origin", origin)
	case slices.Contains(allowed, "*"):
		h.Set("Access-Control-Allow-Origin", "*")
	default:
		return false
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", strconv.FormatInt(int64(s.cfg.CORS.MaxAge.Seconds()), 10))
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	return false
}
