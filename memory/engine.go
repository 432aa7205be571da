// Package memory is the engine: it creates, reads, updates and deletes memories with
// their history. The store is the truth; what the engine derives from it (indexes)
// follows each committed write.
package memory

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"memoryd/index"
	"memoryd/llm"
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
	ScanIndexed(orgID string, mode store.Mode, fn func(m *store.Memory, model string, vec []float32) error) (uint64, error)
	Tenants() ([]store.TenantRef, error)
	SetVectors(orgID string, mode store.Mode, model string, vecs map[string][]float32) (int, error)
	PurgeExpired(now time.Time) ([]store.Expired, error)
	WriteSeq(orgID string, mode store.Mode) (uint64, error)
	PutJob(j store.Job) error
	GetJob(orgID string, mode store.Mode, id string) (store.Job, error)
	UnfinishedJobs() ([]store.Job, error)
	ApplyJobStep(j store.Job, step store.JobStep) ([]store.Memory, error)
	CancelJob(orgID string, mode store.Mode, id string, at time.Time) (store.Job, error)
}

// Tenant names whose data a call touches.
type Tenant struct {
	OrgID string
	Mode  store.Mode
}

// Engine runs memory operations for every tenant and keeps each tenant's search index
// in step with the store.
type Engine struct {
	store     Store
	embedder  llm.Embedder
	local     *llm.LocalEmbedder // set when the embedder is the built-in one
	log       *slog.Logger
	now       func() time.Time
	tenants   sync.Map // Tenant → *tenantIndex
	cache     *responseCache
	jobs      jobQueue
	chat      *llm.Chat // nil: no language model
	onMemory  func(Tenant, string, store.Memory)
	onUsage   func(store.UsageEvent)
	indexDir  string
	crossover int
	// searches runs retrievals' searches; nil: each runs on its caller's goroutine
	// (see SearchWorkers).
	searches   *searchPool
	retrievals sync.Pool // of *retrieval
	scratch    sync.Pool // of *retrieveScratch
}

// Options are the engine's collaborators; zero values pick the defaults (the local
// embedder, the default logger, the wall clock).
type Options struct {
	Embedder llm.Embedder
	Log      *slog.Logger
	Now      func() time.Time
	// CacheEntries bounds the retrieval response cache (default 4096; negative: off).
	CacheEntries int
	// OnUsage receives the usage of background work (jobs), which no request carries.
	OnUsage func(store.UsageEvent)
	// IndexDir holds vector index snapshots; empty: none are kept.
	IndexDir string
	// OnMemoryEvent receives each memory a job created, updated or deleted, after its
	// commit ("memory.created", "memory.updated", "memory.deleted"), for webhooks.
	OnMemoryEvent func(t Tenant, event string, m store.Memory)
	// Chat is the language model of extraction, answers and re-ranking; nil: none.
	Chat *llm.Chat
	// Workers is how many jobs run at once (default 2).
	Workers int
	// Crossover is the tenant size from which vectors are searched with HNSW rather
	// than an exact scan (default index.ExactCrossover).
	Crossover int
	// SearchWorkers is how many search workers compute retrievals (embedding the
	// query, searching, ranking); the others wait their turn, first come first served.
	// 0: none, each retrieval computes on its caller's goroutine. See searchPool.
	SearchWorkers int
}

// DefaultDim is the local embedder's vector length.
const DefaultDim = 384

// New returns an engine over st.
func New(st Store, opt Options) *Engine {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Embedder == nil {
		opt.Embedder = llm.NewLocal(DefaultDim)
	}
	if opt.Crossover == 0 {
		opt.Crossover = index.ExactCrossover
	}
	if opt.CacheEntries == 0 {
		opt.CacheEntries = 4096
	}
	e := &Engine{store: st, embedder: opt.Embedder, log: opt.Log, now: opt.Now, cache: newResponseCache(opt.CacheEntries),
		jobs: jobQueue{ch: make(chan store.Job, 1024), workers: max(1, opt.Workers)}, chat: opt.Chat, onMemory: opt.OnMemoryEvent, onUsage: opt.OnUsage, indexDir: opt.IndexDir, crossover: opt.Crossover}
	// Queries use the local embedder's corpus-weighted form, under any cache wrapper.
	inner := opt.Embedder
	for {
		u, ok := inner.(interface{ Unwrap() llm.Embedder })
		if !ok {
			break
		}
		inner = u.Unwrap()
	}
	e.local, _ = inner.(*llm.LocalEmbedder)
	if opt.SearchWorkers > 0 {
		e.searches = newSearchPool(opt.SearchWorkers)
	}
	e.retrievals.New = func() any { return new(retrieval) }
	return e
}

// Embedder is the engine's embedder.
func (e *Engine) Embedder() llm.Embedder { return e.embedder }

// LoadAll loads every tenant's index, as at start; requests to a tenant not yet loaded
// wait for it.
func (e *Engine) LoadAll() error {
	tenants, err := e.store.Tenants()
	if err != nil {
		return err
	}
	for _, t := range tenants {
		if _, err := e.tenant(Tenant{OrgID: t.OrgID, Mode: t.Mode}); err != nil {
			return err
		}
	}
	return nil
}

// Forget drops the indexes and cached answers of an org that was deleted, and its
// index snapshot files: a deleted org's vectors must not outlive it on disk.
func (e *Engine) Forget(orgID string) {
	for _, mode := range []store.Mode{store.ModeLive, store.ModeTest} {
		t := Tenant{OrgID: orgID, Mode: mode}
		e.tenants.Delete(t)
		e.cache.dropTenant(t)
		if e.indexDir != "" {
			if err := os.Remove(e.snapshotPath(t)); err != nil && !errors.Is(err, os.ErrNotExist) {
				e.log.Error("remove index snapshot of a deleted org", "org_id", orgID, "mode", mode, "err", err)
			}
		}
	}
}

// billedTokens is what an embedding call counts as model tokens: the provider's
// count; the built-in embedder is no model provider and counts none.
func (e *Engine) billedTokens(u llm.Usage) int64 {
	if e.local != nil {
		return 0
	}
	return int64(u.PromptTokens)
}

// embed embeds texts, returning their vectors and what it cost.
func (e *Engine) embed(ctx context.Context, texts []string) ([][]float32, llm.Usage, error) {
	return llm.EmbedWithUsage(ctx, e.embedder, texts)
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
func (e *Engine) Create(ctx context.Context, t Tenant, items []NewMemory, ch store.Change) ([]store.Memory, error) {
	ti, err := e.tenant(t)
	if err != nil {
		return nil, err
	}
	texts := make([]string, len(items))
	for i, it := range items {
		texts[i] = it.Text
	}
	vecs, usage, err := e.embed(ctx, texts)
	if err != nil {
		return nil, err
	}
	if ch.Usage != nil {
		ch.Usage.Embeddings += int64(len(texts))
		ch.Usage.TokensIn += e.billedTokens(usage)
	}
	now := e.now().UTC()
	ch.At = now
	mems := make([]store.Memory, len(items))
	for i, it := range items {
		mems[i] = store.Memory{
			ID: store.NewID("mem_"), Text: it.Text, Metadata: it.Metadata,
			UserID: it.UserID, AgentID: it.AgentID, SessionID: it.SessionID,
			CreatedAt: now, UpdatedAt: now, Version: 1, ExpiresAt: it.ExpiresAt,
			Vector: vecs[i], VectorModel: e.embedder.Model(),
		}
	}
	if err := e.store.CreateMemories(t.OrgID, t.Mode, mems, ch); err != nil {
		return nil, err
	}
	ti.putMany(mems)
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
func (e *Engine) Update(ctx context.Context, t Tenant, id string, p Patch, ch store.Change) (store.Memory, error) {
	ti, err := e.tenant(t)
	if err != nil {
		return store.Memory{}, err
	}
	// A text equal to the stored one needs no embedding (nor is one billed). The
	// check reads the index; if the stored text moved meanwhile, the store's check
	// below says so and the update runs again with an embedding.
	needVec := p.Text != nil
	if needVec {
		ti.mu.RLock()
		if d := ti.docs[id]; d != nil && d.mem.Text == *p.Text {
			needVec = false
		}
		ti.mu.RUnlock()
	}
	var vec []float32
	var m store.Memory
	for {
		if needVec && vec == nil {
			vecs, usage, err := e.embed(ctx, []string{*p.Text})
			if err != nil {
				return store.Memory{}, err
			}
			vec = vecs[0]
			if ch.Usage != nil {
				ch.Usage.Embeddings++
				ch.Usage.TokensIn += e.billedTokens(usage)
			}
		}
		ch.At = e.now().UTC()
		m, err = e.store.UpdateMemory(t.OrgID, t.Mode, id, ch, func(m *store.Memory) error {
			if p.Text != nil && *p.Text != m.Text {
				if vec == nil {
					return errTextMoved
				}
				m.Text = *p.Text
				m.Vector, m.VectorModel = vec, e.embedder.Model()
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
		if !errors.Is(err, errTextMoved) {
			break
		}
		needVec = true
	}
	if err != nil {
		return m, mapErr(err)
	}
	ti.put(&m)
	return m, nil
}

// errTextMoved: the stored text changed after Update decided no embedding was needed.
var errTextMoved = errors.New("memory: stored text changed during the update")

// Delete removes one memory.
func (e *Engine) Delete(t Tenant, id string, ch store.Change) error {
	ti, err := e.tenant(t)
	if err != nil {
		return err
	}
	ch.At = e.now().UTC()
	if err := e.store.DeleteMemory(t.OrgID, t.Mode, id, ch); err != nil {
		return mapErr(err)
	}
	ti.remove(id)
	return nil
}

// DeleteMany removes every memory in scope and returns how many.
func (e *Engine) DeleteMany(t Tenant, sc store.Scope, ch store.Change) (int, error) {
	ti, err := e.tenant(t)
	if err != nil {
		return 0, err
	}
	ch.At = e.now().UTC()
	ids, err := e.store.DeleteMemories(t.OrgID, t.Mode, sc, ch)
	if err != nil {
		return 0, mapErr(err)
	}
	for _, id := range ids {
		ti.remove(id)
	}
	return len(ids), nil
}

// SweepExpired deletes memories whose expiry passed (reads already hide them) and
// takes them out of the indexes; it returns how many.
func (e *Engine) SweepExpired() (int, error) {
	removed, err := e.store.PurgeExpired(e.now())
	n := 0
	for _, ex := range removed {
		if v, ok := e.tenants.Load(Tenant{OrgID: ex.OrgID, Mode: ex.Mode}); ok {
			ti := v.(*tenantIndex)
			<-ti.loaded
			for _, id := range ex.IDs {
				ti.remove(id)
			}
		}
		n += len(ex.IDs)
	}
	return n, err
}

// History returns a memory's events, oldest first.
func (e *Engine) History(t Tenant, id string) ([]store.HistoryEvent, error) {
	ev, err := e.store.History(t.OrgID, t.Mode, id)
	return ev, mapErr(err)
}

// Gauges reports the indexes' sizes, the job queue and the response cache, for
// /metrics.
func (e *Engine) Gauges() map[string]float64 {
	var tenants, mems, vecs, stale float64
	e.tenants.Range(func(_, v any) bool {
		ti := v.(*tenantIndex)
		select {
		case <-ti.loaded:
		default:
			return true
		}
		if ti.loadErr != nil {
			return true
		}
		ti.mu.RLock()
		tenants++
		mems += float64(len(ti.docs))
		stale += float64(ti.stale)
		ti.mu.RUnlock()
		vecs += float64(ti.vec.Len())
		return true
	})
	hits, misses := e.CacheStats()
	return map[string]float64{
		"index_tenants": tenants, "index_memories": mems, "index_vectors": vecs, "index_stale_vectors": stale,
		"jobs_queued": float64(len(e.jobs.ch)), "retrieval_cache_hits": float64(hits), "retrieval_cache_misses": float64(misses),
	}
}
