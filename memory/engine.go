// Package memory is the engine: it creates, reads, updates and deletes memories with
// their history. The store is the truth; what the engine derives from it (indexes)
// follows each committed write.
package memory

import (
	"encoding/json"
	"errors"
	"time"

	"memoryd/store"
)

// ErrNotFound is returned for a memory that does not exist in the caller's org and
// mode, or has expired.
var ErrNotFound = errors.New("memory: not found")

// Store is what the engine needs of the store; bbolt's is the first implementation.
type Store interface {
	CreateMemories(orgID string, mode store.Mode, mems []store.Memory, ch store.Change) error
	GetMemory(orgID string, mode store.Mode, id string) (store.Memory, error)
	ListMemories(orgID string, mode store.Mode, sc store.Scope, after string, limit int) ([]store.Memory, string, error)
	UpdateMemory(orgID string, mode store.Mode, id string, ch store.Change, fn func(*store.Memory) error) (store.Memory, error)
	DeleteMemory(orgID string, mode store.Mode, id string, ch store.Change) error
	DeleteMemories(orgID string, mode store.Mode, sc store.Scope, ch store.Change) ([]string, error)
	History(orgID string, mode store.Mode, id string) ([]store.HistoryEvent, error)
}

// Tenant names whose data a call touches.
type Tenant struct {
	OrgID string
	Mode  store.Mode
}

// Engine runs memory operations for every tenant.
type Engine struct {
	store Store
	now   func() time.Time
}

// New returns an engine over st. now may be nil for the wall clock.
func New(st Store, now func() time.Time) *Engine {
	if now == nil {
		now = time.Now
	}
	return &Engine{store: st, now: now}
}

// NewMemory is a memory to create; the engine assigns id, times and version.
type NewMemory struct {
	Text      string
	Metadata  json.RawMessage
	UserID    string
	AgentID   string
	SessionID string
	ExpiresAt *time.Time
}

// Patch changes a memory; nil fields are left alone. ClearExpiry removes the expiry.
type Patch struct {
	Text        *string
	Metadata    json.RawMessage
	ExpiresAt   *time.Time
	ClearExpiry bool
}

// ErrQuotaStored: the write would pass the tenant's cap on stored memories.
var ErrQuotaStored = store.ErrQuotaStored

func mapErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// Create stores the memories in one transaction (all or none) and returns them. ch
// says who writes and carries the request's usage event and quota.
func (e *Engine) Create(t Tenant, items []NewMemory, ch store.Change) ([]store.Memory, error) {
	now := e.now().UTC()
	ch.At = now
	mems := make([]store.Memory, len(items))
	for i, it := range items {
		mems[i] = store.Memory{
			ID: store.NewID("mem_"), Text: it.Text, Metadata: it.Metadata,
			UserID: it.UserID, AgentID: it.AgentID, SessionID: it.SessionID,
			CreatedAt: now, UpdatedAt: now, Version: 1, ExpiresAt: it.ExpiresAt,
		}
	}
	if err := e.store.CreateMemories(t.OrgID, t.Mode, mems, ch); err != nil {
		return nil, err
	}
	return mems, nil
}

// Get returns one memory.
func (e *Engine) Get(t Tenant, id string) (store.Memory, error) {
	m, err := e.store.GetMemory(t.OrgID, t.Mode, id)
	return m, mapErr(err)
}

// List returns a page of memories in scope, newest first, and the id to continue after.
func (e *Engine) List(t Tenant, sc store.Scope, after string, limit int) ([]store.Memory, string, error) {
	mems, next, err := e.store.ListMemories(t.OrgID, t.Mode, sc, after, limit)
	return mems, next, mapErr(err)
}

// Update applies the patch, bumping the version and keeping the old text in history.
func (e *Engine) Update(t Tenant, id string, p Patch, ch store.Change) (store.Memory, error) {
	ch.At = e.now().UTC()
	m, err := e.store.UpdateMemory(t.OrgID, t.Mode, id, ch, func(m *store.Memory) error {
		if p.Text != nil {
			m.Text = *p.Text
		}
		if p.Metadata != nil {
			m.Metadata = p.Metadata
		}
		if p.ClearExpiry {
			m.ExpiresAt = nil
		} else if p.ExpiresAt != nil {
			m.ExpiresAt = p.ExpiresAt
		}
		return nil
	})
	return m, mapErr(err)
}

// Delete removes one memory.
func (e *Engine) Delete(t Tenant, id string, ch store.Change) error {
	ch.At = e.now().UTC()
	return mapErr(e.store.DeleteMemory(t.OrgID, t.Mode, id, ch))
}

// DeleteMany removes every memory in scope and returns how many.
func (e *Engine) DeleteMany(t Tenant, sc store.Scope, ch store.Change) (int, error) {
	ch.At = e.now().UTC()
	ids, err := e.store.DeleteMemories(t.OrgID, t.Mode, sc, ch)
	return len(ids), mapErr(err)
}

// History returns a memory's events, oldest first.
func (e *Engine) History(t Tenant, id string) ([]store.HistoryEvent, error) {
	ev, err := e.store.History(t.OrgID, t.Mode, id)
	return ev, mapErr(err)
}
