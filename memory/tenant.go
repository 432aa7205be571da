package memory

import (
	"encoding/json"
	"sync"
	"time"

	"memoryd/index"
	"memoryd/llm"
	"memoryd/store"
)

// tenantIndex is one org and mode's derived search state: vectors, keywords, the
// attributes filters need, and the corpus statistics the local embedder weighs query
// words by. It follows the store; the store stays the truth.
type tenantIndex struct {
	mu       sync.RWMutex // guards docs and deleted; searches hold it for reading
	vec      *index.Auto
	kw       *index.Keyword
	stats    *llm.TermStats // nil unless the embedder is the local one
	docs     map[string]*doc
	deleted  map[string]struct{} // ids removed in this process: a late update must not revive them
	stale    int                 // memories whose stored vector came from another model
	gen      uint64              // bumped by every change; keys the response cache
	loadErr  error
	loaded   chan struct{} // closed once the initial load is done
	loadOnce sync.Once
}

// doc is what filtering needs of a memory, kept beside its vector.
type doc struct {
	version   int
	text      string
	userID    string
	agentID   string
	sessionID string
	createdAt time.Time
	expiresAt *time.Time
	metadata  map[string]any
	hasVector bool // false while its stored vector is from another model
}

func docOf(m *store.Memory) *doc {
	d := &doc{version: m.Version, text: m.Text, userID: m.UserID, agentID: m.AgentID, sessionID: m.SessionID,
		createdAt: m.CreatedAt, expiresAt: m.ExpiresAt}
	if len(m.Metadata) > 0 {
		_ = json.Unmarshal(m.Metadata, &d.metadata)
	}
	return d
}

// tenant returns the tenant's index, loading it from the store the first time.
func (e *Engine) tenant(t Tenant) (*tenantIndex, error) {
	v, _ := e.tenants.LoadOrStore(t, &tenantIndex{loaded: make(chan struct{})})
	ti := v.(*tenantIndex)
	ti.loadOnce.Do(func() {
		ti.loadErr = e.loadTenant(t, ti)
		close(ti.loaded)
	})
	<-ti.loaded
	return ti, ti.loadErr
}

// loadTenant fills ti from the store's memories and stored vectors. A memory whose vector
// was made by another model (or that has none) is searchable by keywords only until
// it is re-embedded (POST /v1/batch/embeddings).
func (e *Engine) loadTenant(t Tenant, ti *tenantIndex) error {
	ti.vec = index.NewAuto(e.embedder.Dim(), index.DefaultHNSWConfig())
	ti.kw = index.NewKeyword()
	ti.docs = map[string]*doc{}
	ti.deleted = map[string]struct{}{}
	if e.local != nil {
		ti.stats = e.local.NewTermStats()
	}
	model := e.embedder.Model()
	_, err := e.store.ScanIndexed(t.OrgID, t.Mode, func(m *store.Memory, vmodel string, vec []float32) error {
		ti.docs[m.ID] = docOf(m)
		if err := ti.kw.Add(m.ID, m.Text); err != nil {
			return err
		}
		if ti.stats != nil {
			ti.stats.Add(m.Text)
		}
		if vmodel != model || len(vec) != e.embedder.Dim() {
			ti.stale++
			return nil
		}
		ti.docs[m.ID].hasVector = true
		return ti.vec.Add(m.ID, vec)
	})
	if ti.stale > 0 {
		e.log.Warn("memories embedded by another model: searchable by keywords only until POST /v1/batch/embeddings re-embeds them",
			"org_id", t.OrgID, "mode", t.Mode, "count", ti.stale, "model", model)
	}
	return err
}

// put applies a committed create or update to the index.
func (ti *tenantIndex) put(m *store.Memory) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if _, gone := ti.deleted[m.ID]; gone {
		return
	}
	old, ok := ti.docs[m.ID]
	if ok && old.version >= m.Version {
		return // a newer version was applied first
	}
	if ok && ti.stats != nil {
		ti.stats.Remove(old.text)
	}
	d := docOf(m)
	ti.docs[m.ID] = d
	_ = ti.kw.Add(m.ID, m.Text)
	if ti.stats != nil {
		ti.stats.Add(m.Text)
	}
	switch {
	case len(m.Vector) > 0:
		d.hasVector = ti.vec.Add(m.ID, m.Vector) == nil
	case ok:
		d.hasVector = old.hasVector // the text did not change: the vector stands
	}
	ti.gen++
}

// remove applies a committed delete.
func (ti *tenantIndex) remove(id string) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.deleted[id] = struct{}{}
	if old, ok := ti.docs[id]; ok {
		if ti.stats != nil {
			ti.stats.Remove(old.text)
		}
		delete(ti.docs, id)
	}
	ti.kw.Delete(id)
	ti.vec.Delete(id)
	ti.gen++
}

// setVector applies a re-embedding.
func (ti *tenantIndex) setVector(id string, vec []float32) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	d, ok := ti.docs[id]
	if !ok || ti.vec.Add(id, vec) != nil {
		return
	}
	if !d.hasVector {
		d.hasVector = true
		ti.stale--
	}
	ti.gen++
}
