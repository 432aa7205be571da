package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"memoryd/memory"
	"memoryd/meter"
	"memoryd/store"
)

// Limits of the contract.
const (
	maxTextBytes     = 32 << 10
	maxMetadataBytes = 16 << 10
	maxScopeBytes    = 128
	maxBatchItems    = 1000
)

// memoryView is a memory as the API shows it.
type memoryView struct {
	ID        string          `json:"id"`
	Text      string          `json:"text"`
	Metadata  json.RawMessage `json:"metadata"`
	UserID    *string         `json:"user_id"`
	AgentID   *string         `json:"agent_id"`
	SessionID *string         `json:"session_id"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	Version   int             `json:"version"`
	ExpiresAt *time.Time      `json:"expires_at"`
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func viewMemory(m store.Memory) memoryView {
	md := m.Metadata
	if len(md) == 0 {
		md = json.RawMessage("{}")
	}
	return memoryView{
		ID: m.ID, Text: m.Text, Metadata: md,
		UserID: optString(m.UserID), AgentID: optString(m.AgentID), SessionID: optString(m.SessionID),
		CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(), Version: m.Version, ExpiresAt: m.ExpiresAt,
	}
}

func viewMemories(ms []store.Memory) []memoryView {
	out := make([]memoryView, len(ms))
	for i, m := range ms {
		out[i] = viewMemory(m)
	}
	return out
}

// memoryBody is the body of POST /v1/memories and each item of a batch.
type memoryBody struct {
	Text      *string         `json:"text"`
	Metadata  json.RawMessage `json:"metadata"`
	UserID    *string         `json:"user_id"`
	AgentID   *string         `json:"agent_id"`
	SessionID *string         `json:"session_id"`
	ExpiresAt *time.Time      `json:"expires_at"`
}

func validText(path string, s *string) *Error {
	if s == nil {
		return invalid(path, "%s is required", path)
	}
	if strings.TrimSpace(*s) == "" {
		return invalid(path, "%s must not be empty", path)
	}
	if len(*s) > maxTextBytes {
		return invalid(path, "%s is %d bytes; the limit is %d", path, len(*s), maxTextBytes)
	}
	return nil
}

// validMetadata accepts an object (or null, meaning none) within the size limit and
// returns it compacted.
func validMetadata(path string, raw json.RawMessage) (json.RawMessage, *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, invalid(path, "%s must be a JSON object", path)
	}
	compact, err := compactJSON(raw)
	if err != nil {
		return nil, invalid(path, "%s is not valid JSON", path)
	}
	if len(compact) > maxMetadataBytes {
		return nil, invalid(path, "%s is %d bytes serialized; the limit is %d", path, len(compact), maxMetadataBytes)
	}
	return compact, nil
}

func validScope(path string, s *string) (string, *Error) {
	if s == nil {
		return "", nil
	}
	if *s == "" || len(*s) > maxScopeBytes {
		return "", invalid(path, "%s must be 1 to %d bytes", path, maxScopeBytes)
	}
	return *s, nil
}

func (s *Server) validFutureTime(path string, t *time.Time) *Error {
	if t != nil && !t.After(s.now()) {
		return invalid(path, "%s must be in the future", path)
	}
	return nil
}

// toNewMemory validates one create body; prefix is its JSON path ("" or "memories[3]").
func (s *Server) toNewMemory(prefix string, b memoryBody) (memory.NewMemory, *Error) {
	p := func(f string) string { return joinPath(prefix, f) }
	var nm memory.NewMemory
	if e := validText(p("text"), b.Text); e != nil {
		return nm, e
	}
	md, e := validMetadata(p("metadata"), b.Metadata)
	if e != nil {
		return nm, e
	}
	nm = memory.NewMemory{Text: *b.Text, Metadata: md}
	if nm.UserID, e = validScope(p("user_id"), b.UserID); e != nil {
		return nm, e
	}
	if nm.AgentID, e = validScope(p("agent_id"), b.AgentID); e != nil {
		return nm, e
	}
	if nm.SessionID, e = validScope(p("session_id"), b.SessionID); e != nil {
		return nm, e
	}
	if e := s.validFutureTime(p("expires_at"), b.ExpiresAt); e != nil {
		return nm, e
	}
	if b.ExpiresAt != nil {
		t := b.ExpiresAt.UTC()
		nm.ExpiresAt = &t
	}
	return nm, nil
}

func (s *Server) createMemory(w http.ResponseWriter, r *http.Request) error {
	var b memoryBody
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	nm, e := s.toNewMemory("", b)
	if e != nil {
		return e
	}
	if e := s.checkEmbeddings(r, 1); e != nil {
		return e
	}
	ch := s.writeChange(r, "api", http.StatusCreated)
	mems, err := s.engine.Create(r.Context(), caller(r).tenant(), []memory.NewMemory{nm}, ch)
	if err != nil {
		return s.writeErr(r, err)
	}
	s.committed(r, ch)
	s.emit(r, "memory.created", func() any { return viewMemory(mems[0]) })
	respond(w, r, http.StatusCreated, viewMemory(mems[0]))
	return nil
}

func (s *Server) batchCreateMemories(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Memories []memoryBody `json:"memories"`
	}
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	if len(b.Memories) == 0 {
		return invalid("memories", "memories must hold 1 to %d items", maxBatchItems)
	}
	if len(b.Memories) > maxBatchItems {
		return invalid("memories", "memories holds %d items; the limit is %d", len(b.Memories), maxBatchItems)
	}
	items := make([]memory.NewMemory, len(b.Memories))
	for i, mb := range b.Memories {
		nm, e := s.toNewMemory(fmt.Sprintf("memories[%d]", i), mb)
		if e != nil {
			return e
		}
		items[i] = nm
	}
	if e := s.checkEmbeddings(r, len(items)); e != nil {
		return e
	}
	ch := s.writeChange(r, "batch", http.StatusCreated)
	mems, err := s.engine.Create(r.Context(), caller(r).tenant(), items, ch)
	if err != nil {
		return s.writeErr(r, err)
	}
	s.committed(r, ch)
	for _, m := range mems {
		s.emit(r, "memory.created", func() any { return viewMemory(m) })
	}
	respond(w, r, http.StatusCreated, map[string]any{"memories": viewMemories(mems)})
	return nil
}

// memoryID reads the {id} path value; a malformed id cannot exist, so it is a 404.
func memoryID(r *http.Request) (string, *Error) {
	id := r.PathValue("id")
	if !store.ValidID(id, "mem_") {
		return "", errMemoryNotFound
	}
	return id, nil
}

// checkEmbeddings refuses, with 402, work that would pass a hard cap on embeddings.
func (s *Server) checkEmbeddings(r *http.Request, n int) *Error {
	p := caller(r)
	if d := s.meter.Check(p.org, p.key.Mode, "embeddings", int64(n)); d != nil {
		return errQuota(d.Metric, d.Limit, d.Used)
	}
	return nil
}

// writeErr maps a failed create: a quota cap is a 402 that wrote nothing.
func (s *Server) writeErr(r *http.Request, err error) error {
	if errors.Is(err, memory.ErrQuotaStored) {
		p := caller(r)
		used, _ := s.store.MemoriesStored(p.org.ID, p.key.Mode)
		return errQuota("memories_stored", meter.HardCap(s.cfg, p.org, "memories_stored"), used)
	}
	return upstreamErr(err)
}

func memoryErr(err error) error {
	if errors.Is(err, memory.ErrNotFound) {
		return errMemoryNotFound
	}
	return err
}

func (s *Server) getMemory(w http.ResponseWriter, r *http.Request) error {
	id, e := memoryID(r)
	if e != nil {
		return e
	}
	m, err := s.engine.Get(caller(r).tenant(), id)
	if err != nil {
		return memoryErr(err)
	}
	info(r).work.memoriesRead = 1
	respond(w, r, http.StatusOK, viewMemory(m))
	return nil
}

// pageParams reads ?limit= and ?cursor=.
func pageParams(r *http.Request) (limit int, after string, e *Error) {
	limit = 20
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, "", invalid("limit", "limit must be an integer from 1 to 100")
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || !utf8.Valid(raw) {
			return 0, "", invalid("cursor", "cursor is not one this API returned")
		}
		after = string(raw)
	}
	return limit, after, nil
}

func encodeCursor(after string) *string {
	if after == "" {
		return nil
	}
	c := base64.RawURLEncoding.EncodeToString([]byte(after))
	return &c
}

// scopeParams reads user_id, agent_id and session_id from the query.
func scopeParams(r *http.Request) (store.Scope, *Error) {
	q := r.URL.Query()
	var sc store.Scope
	for _, f := range []struct {
		name string
		dst  *string
	}{{"user_id", &sc.UserID}, {"agent_id", &sc.AgentID}, {"session_id", &sc.SessionID}} {
		if !q.Has(f.name) {
			continue
		}
		v := q.Get(f.name)
		if _, e := validScope(f.name, &v); e != nil {
			return sc, e
		}
		*f.dst = v
	}
	return sc, nil
}

func (s *Server) listMemories(w http.ResponseWriter, r *http.Request) error {
	limit, after, e := pageParams(r)
	if e != nil {
		return e
	}
	if after != "" && !store.ValidID(after, "mem_") {
		return invalid("cursor", "cursor is not one this API returned")
	}
	sc, e := scopeParams(r)
	if e != nil {
		return e
	}
	mems, next, err := s.engine.List(caller(r).tenant(), sc, after, limit)
	if err != nil {
		return err
	}
	info(r).work.memoriesRead = int64(len(mems))
	respond(w, r, http.StatusOK, map[string]any{"memories": viewMemories(mems), "next_cursor": encodeCursor(next)})
	return nil
}

func (s *Server) updateMemory(w http.ResponseWriter, r *http.Request) error {
	id, e := memoryID(r)
	if e != nil {
		return e
	}
	var b struct {
		Text      *string             `json:"text"`
		Metadata  json.RawMessage     `json:"metadata"`
		ExpiresAt Nullable[time.Time] `json:"expires_at"`
	}
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	var p memory.Patch
	if b.Text != nil {
		if e := validText("text", b.Text); e != nil {
			return e
		}
		p.Text = b.Text
	}
	if len(b.Metadata) > 0 {
		md, e := validMetadata("metadata", b.Metadata)
		if e != nil {
			return e
		}
		if md == nil {
			md = json.RawMessage("{}")
		}
		p.Metadata = md
	}
	if b.ExpiresAt.Set {
		if !b.ExpiresAt.Valid {
			p.ClearExpiry = true
		} else {
			if e := s.validFutureTime("expires_at", &b.ExpiresAt.V); e != nil {
				return e
			}
			t := b.ExpiresAt.V.UTC()
			p.ExpiresAt = &t
		}
	}
	if p.Text == nil && p.Metadata == nil && !b.ExpiresAt.Set {
		return invalid("", "Send at least one of text, metadata or expires_at")
	}
	if p.Text != nil {
		if e := s.checkEmbeddings(r, 1); e != nil {
			return e
		}
	}
	ch := s.writeChange(r, "api", http.StatusOK)
	m, err := s.engine.Update(r.Context(), caller(r).tenant(), id, p, ch)
	if err != nil {
		return upstreamErr(memoryErr(err))
	}
	s.committed(r, ch)
	s.emit(r, "memory.updated", func() any { return viewMemory(m) })
	respond(w, r, http.StatusOK, viewMemory(m))
	return nil
}

func (s *Server) deleteMemory(w http.ResponseWriter, r *http.Request) error {
	id, e := memoryID(r)
	if e != nil {
		return e
	}
	ch := s.writeChange(r, "api", http.StatusOK)
	if err := s.engine.Delete(caller(r).tenant(), id, ch); err != nil {
		return memoryErr(err)
	}
	s.committed(r, ch)
	s.emit(r, "memory.deleted", func() any { return map[string]any{"id": id, "deleted": true} })
	respond(w, r, http.StatusOK, map[string]any{"id": id, "deleted": true})
	return nil
}

func (s *Server) deleteMemories(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get("confirm") != "true" {
		return newError(http.StatusBadRequest, "CONFIRMATION_REQUIRED",
			"Deleting many memories needs ?confirm=true", map[string]any{"parameter": "confirm"})
	}
	sc, e := scopeParams(r)
	if e != nil {
		return e
	}
	// The narrowing fields may also come as a JSON body.
	if len(body(r)) > 0 {
		var b struct {
			UserID    *string `json:"user_id"`
			AgentID   *string `json:"agent_id"`
			SessionID *string `json:"session_id"`
		}
		if e := decodeStrict(body(r), &b); e != nil {
			return e
		}
		for _, f := range []struct {
			name string
			v    *string
			dst  *string
		}{{"user_id", b.UserID, &sc.UserID}, {"agent_id", b.AgentID, &sc.AgentID}, {"session_id", b.SessionID, &sc.SessionID}} {
			v, e := validScope(f.name, f.v)
			if e != nil {
				return e
			}
			if v != "" {
				*f.dst = v
			}
		}
	}
	ch := s.writeChange(r, "api", http.StatusOK)
	n, err := s.engine.DeleteMany(caller(r).tenant(), sc, ch)
	if err != nil {
		return err
	}
	s.committed(r, ch)
	respond(w, r, http.StatusOK, map[string]any{"deleted": n})
	return nil
}

type historyView struct {
	Event        string    `json:"event"`
	Text         string    `json:"text"`
	PreviousText *string   `json:"previous_text"`
	At           time.Time `json:"at"`
	Source       string    `json:"source"`
	JobID        *string   `json:"job_id"`
}

func (s *Server) memoryHistory(w http.ResponseWriter, r *http.Request) error {
	id, e := memoryID(r)
	if e != nil {
		return e
	}
	events, err := s.engine.History(caller(r).tenant(), id)
	if err != nil {
		return memoryErr(err)
	}
	out := make([]historyView, len(events))
	for i, ev := range events {
		out[i] = historyView{Event: ev.Event, Text: ev.Text, PreviousText: ev.PreviousText, At: ev.At.UTC(), Source: ev.Source, JobID: optString(ev.JobID)}
	}
	info(r).work.memoriesRead = 1
	respond(w, r, http.StatusOK, map[string]any{"events": out})
	return nil
}
