package api

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"time"

	"memoryd/store"
)

// keyParams are query parameters that would put a secret in URLs, logs and histories.
var keyParams = []string{"api_key", "apikey", "key", "token", "access_token"}

// sane client request ids are echoed back; anything else is replaced.
func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// statusWriter remembers the status for the log line when a handler writes directly.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe gives each request its id and start time, recovers panics into a 500
// envelope, and logs one line: never the query string, a key, or a body.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := &reqInfo{id: r.Header.Get("X-Request-ID"), start: time.Now()}
		if !saneRequestID(ri.id) {
			ri.id = store.NewID("req_")
		}
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("X-Request-ID", ri.id)
		s.setSecurityHeaders(sw, r)
		r = withValue(r, infoKey, ri)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic", "request_id", ri.id, "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					fail(sw, r, errInternal)
				}
			}
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("request_id", ri.id), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", sw.status),
				slog.Float64("duration_ms", float64(time.Since(ri.start).Microseconds())/1000),
				slog.String("org_id", ri.orgID), slog.String("key_id", ri.keyID),
				slog.String("error", ri.errCode))
			if ri.orgID != "" {
				s.auditRequest(r, ri, sw.status)
			}
			s.metrics.observe(r.Pattern, sw.status, time.Since(ri.start))
		}()
		if s.cors(sw, r) {
			return
		}
		q := r.URL.Query()
		for _, p := range keyParams {
			if q.Has(p) {
				fail(sw, r, invalid(p, "API keys are not accepted in the URL; send them in the Authorization header"))
				return
			}
		}
		next.ServeHTTP(sw, r)
	})
}

// importPattern is the one route whose body is not JSON but JSON lines.
const importPattern = "POST /v1/admin/orgs/{org_id}/import"

// readBody reads a POST/PUT/PATCH/DELETE body within the size limit and checks its
// media type. The bytes travel in the request's reqInfo for the handler and
// idempotency.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) *Error {
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	body, err := readAllSized(http.MaxBytesReader(w, r.Body, s.cfg.Server.MaxBodyBytes), r.ContentLength)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newError(http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE",
				"Request body exceeds the limit of "+humanBytes(s.cfg.Server.MaxBodyBytes), map[string]any{"limit_bytes": s.cfg.Server.MaxBodyBytes})
		}
		return invalid("", "Could not read the request body")
	}
	if len(body) > 0 {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		// The import route takes JSON lines, and checks that it got them itself.
		if r.Pattern == importPattern && err == nil && mt == ndjson {
			info(r).body = body
			return nil
		}
		if err != nil || mt != "application/json" {
			return newError(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
				"Request bodies must be sent as Content-Type: application/json", map[string]any{"content_type": r.Header.Get("Content-Type")})
		}
	}
	info(r).body = body
	return nil
}

func body(r *http.Request) []byte { return info(r).body }

// presizeMax bounds the buffer readAllSized makes before any byte has come.
const presizeMax = 64 << 10

// readAllSized is io.ReadAll for a body whose length the client announced (size;
// negative when unknown): one buffer of that size (and a byte to see the end in)
// instead of io.ReadAll's growth from 512 bytes. The announced length only sizes the
// first buffer, and only up to presizeMax, so a claim of a large body sent slowly costs
// little before its bytes come; what is read is what the body holds.
func readAllSized(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > presizeMax {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, size+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // the body is longer than announced
		}
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}
