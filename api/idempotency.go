package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"memoryd/store"
)

// idempotencyTTL is how long a POST's first answer is replayed.
const idempotencyTTL = 24 * time.Hour

// recorder keeps a copy of what a handler writes, to store for replay.
type recorder struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	rec.buf.Write(b)
	return rec.ResponseWriter.Write(b)
}

// keyedLocks serialises requests that share an idempotency key, so two concurrent
// retries cannot both run.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedLocks) lock(name string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[name]
	if l == nil {
		l = &keyedLock{}
		k.locks[name] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, name)
		}
		k.mu.Unlock()
	}
}

// idempotent runs h, replaying the stored answer when a POST repeats an
// Idempotency-Key with the same body, and refusing the key with another body.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, orgID string, mode store.Mode, h handlerFunc) {
	key := r.Header.Get("Idempotency-Key")
	if r.Method != http.MethodPost || key == "" {
		run(w, r, h)
		return
	}
	if len(key) > 255 {
		fail(w, r, invalid("Idempotency-Key", "Idempotency-Key must be at most 255 characters"))
		return
	}
	sum := sha256.New()
	sum.Write([]byte(r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery + "\n"))
	sum.Write(body(r))
	fingerprint := hex.EncodeToString(sum.Sum(nil))

	unlock := s.idemLocks.lock(orgID + "/" + string(mode) + "/" + key)
	defer unlock()
	rec, found, err := s.store.GetIdempotency(orgID, mode, key, idempotencyTTL)
	if err != nil {
		failErr(w, r, err)
		return
	}
	if found {
		if rec.Fingerprint != fingerprint {
			fail(w, r, newError(http.StatusConflict, "IDEMPOTENCY_CONFLICT",
				"This Idempotency-Key was used with a different request", map[string]any{"idempotency_key": key}))
			return
		}
		info(r).status = rec.Status
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Status)
		_, _ = w.Write(restamp(rec.Body, info(r).id))
		return
	}
	out := &recorder{ResponseWriter: w}
	run(out, r, h)
	// Server errors are not stored: the client's retry should get a fresh attempt.
	if out.status != 0 && out.status < 500 {
		err := s.store.PutIdempotency(orgID, mode, key, store.IdempotencyRecord{
			Fingerprint: fingerprint, Status: out.status, Body: out.buf.Bytes(), CreatedAt: s.now().UTC(),
		})
		if err != nil {
			s.log.Error("store idempotency record", "request_id", info(r).id, "err", err)
		}
	}
}

// restamp gives a replayed answer this request's id, so meta.request_id and the
// X-Request-ID header name the same request; everything else is the first answer.
func restamp(body []byte, requestID string) []byte {
	var env map[string]json.RawMessage
	if json.Unmarshal(body, &env) != nil {
		return body
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(env["meta"], &meta) != nil {
		return body
	}
	meta["request_id"], _ = json.Marshal(requestID)
	env["meta"], _ = json.Marshal(meta)
	out, err := json.Marshal(env)
	if err != nil {
		return body
	}
	return append(out, '\n')
}
