package memory

import (
	"encoding/json"
	"strings"
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
	mu      sync.RWMutex // guards docs and deleted; searches hold it for reading
	vecMu   sync.Mutex   // orders changes to vec (see putMany)
	vec     *index.Auto
	kw      *index.Keyword
	stats   *llm.TermStats // nil unless the embedder is the local one
	docs    map[string]*doc
	deleted map[string]struct{} // ids removed in this process: a late update must not revive them
	stale   int                 // memories whose stored vector came from another model
	// expiring counts the docs with an expiry time: while it is 0, a query without
	// scope or filters admits every indexed memory and searches run unfiltered.
	expiring int
	recent   map[store.Scope][]string // the last texts written in each scope, newest last
	// Memory ids by user_id, agent_id and session_id: a scoped query scores its few
	// candidates directly instead of filtering the whole tenant.
	byUser, byAgent, bySession map[string]map[string]struct{}
	gen                        uint64 // bumped by every change; keys the response cache
	fromSnapshot               bool   // the vectors were loaded from a snapshot, not rebuilt
	loadErr                    error
	loaded                     chan struct{} // closed once the initial load is done
	loadOnce                   sync.Once
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
	hasVector bool   // false while its stored vector is from another model
	context   string // the texts written just before it in its scope
	// mem is the committed memory (without its vector): retrieval answers from it,
	// as the store would, without a read transaction and a decode per answer.
	mem store.Memory
}

// contextTurns is how many earlier memories of the same scope are indexed with a
// memory's words. Memories are mostly written as a conversation goes: a turn such as
// "Yes, twice last year!" is found by the words of the turns it answers.
const contextTurns = 2

// keywordText is what the keyword index holds for d: its text after its context.
func (d *doc) keywordText() string {
	if d.context == "" {
		return d.text
	}
	return d.context + "\n" + d.text
}

// note records text as the newest in its scope and returns the context before it.
func (ti *tenantIndex) note(sc store.Scope, text string) string {
	prev := ti.recent[sc]
	ctx := strings.Join(prev, "\n")
	prev = append(prev, text)
	if len(prev) > contextTurns {
		prev = prev[len(prev)-contextTurns:]
	}
	ti.recent[sc] = prev
	return ctx
}

func docOf(m *store.Memory) *doc {
	d := &doc{version: m.Version, text: m.Text, userID: m.UserID, agentID: m.AgentID, sessionID: m.SessionID,
		createdAt: m.CreatedAt, expiresAt: m.ExpiresAt, mem: *m}
	d.mem.Vector, d.mem.VectorModel = nil, ""
	if len(m.Metadata) > 0 {
		_ = json.Unmarshal(m.Metadata, &d.metadata)
	}
	return d
}

func scopeOf(m *store.Memory) store.Scope {
	return store.Scope{UserID: m.UserID, AgentID: m.AgentID, SessionID: m.SessionID}
}

// tenant returns the tenant's index, loading it from the store the first time.
func (e *Engine) tenant(t Tenant) (*tenantIndex, error) {
	v, ok := e.tenants.Load(t)
	if !ok {
		// Only a tenant's first caller pays for the empty index that may win the store.
		v, _ = e.tenants.LoadOrStore(t, &tenantIndex{loaded: make(chan struct{})})
	}
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
	ti.vec = index.NewAutoCrossover(e.embedder.Dim(), index.DefaultHNSWConfig(), e.crossover)
	ti.kw = index.NewKeyword()
	ti.docs = map[string]*doc{}
	ti.deleted = map[string]struct{}{}
	ti.recent = map[store.Scope][]string{}
	ti.byUser, ti.byAgent, ti.bySession = map[string]map[string]struct{}{}, map[string]map[string]struct{}{}, map[string]map[string]struct{}{}
	if e.local != nil {
		ti.stats = e.local.NewTermStats()
	}
	model := e.embedder.Model()
	// No write reaches this tenant while it loads (writers wait for the load), so the
	// write count read here is the one the scan below sees.
	seq, err := e.store.WriteSeq(t.OrgID, t.Mode)
	if err != nil {
		return err
	}
	if a := e.loadSnapshot(t, seq); a != nil {
		ti.vec, ti.fromSnapshot = a, true
	}
	// Memories come in id order, which is creation order: contexts are as when written.
	var ids []string
	var vecs [][]float32
	_, err = e.store.ScanIndexed(t.OrgID, t.Mode, func(m *store.Memory, vmodel string, vec []float32) error {
		d := docOf(m)
		d.context = ti.note(scopeOf(m), m.Text)
		ti.setDoc(m.ID, d)
		ti.indexScope(m.ID, d, true)
		if err := ti.kw.Add(m.ID, d.keywordText()); err != nil {
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
		if !ti.fromSnapshot {
			ids, vecs = append(ids, m.ID), append(vecs, vec)
		}
		return nil
	})
	if err == nil && len(ids) > 0 {
		// One parallel build of the graph beats adding the vectors one at a time.
		err = ti.vec.AddBatch(ids, vecs)
	}
	if ti.stale > 0 {
		e.log.Warn("memories embedded by another model: searchable by keywords only until POST /v1/batch/embeddings re-embeds them",
			"org_id", t.OrgID, "mode", t.Mode, "count", ti.stale, "model", model)
	}
	return err
}

// put applies a committed create or update to the index.
func (ti *tenantIndex) put(m *store.Memory) { ti.putMany([]store.Memory{*m}) }

// putMany applies committed creates or updates. Documents and keywords change under
// mu; vectors are inserted afterwards under vecMu alone, so searches (which hold mu
// for reading) never wait for a graph insertion. vecMu orders vector changes: a
// memory's vector is added only if its document still has the version that carried
// it, so an older version can never overwrite a newer one, and a delete that came
// first wins.
func (ti *tenantIndex) putMany(mems []store.Memory) {
	ti.mu.Lock()
	var withVec []int
	for i := range mems {
		m := &mems[i]
		if _, gone := ti.deleted[m.ID]; gone {
			continue
		}
		old, ok := ti.docs[m.ID]
		if ok && old.version >= m.Version {
			continue // a newer version was applied first
		}
		if ok && ti.stats != nil {
			ti.stats.Remove(old.text)
		}
		d := docOf(m)
		if ok {
			d.context = old.context
			d.hasVector = old.hasVector // until a new vector lands, the old one stands
		} else {
			d.context = ti.note(scopeOf(m), m.Text)
			ti.indexScope(m.ID, d, true)
		}
		ti.setDoc(m.ID, d)
		_ = ti.kw.Add(m.ID, d.keywordText())
		if ti.stats != nil {
			ti.stats.Add(m.Text)
		}
		if len(m.Vector) > 0 {
			withVec = append(withVec, i)
		}
	}
	ti.gen++
	ti.mu.Unlock()
	if len(withVec) == 0 {
		return
	}

	ti.vecMu.Lock()
	defer ti.vecMu.Unlock()
	ti.mu.RLock()
	var ids []string
	var vecs [][]float32
	for _, i := range withVec {
		if d := ti.docs[mems[i].ID]; d != nil && d.version == mems[i].Version {
			ids, vecs = append(ids, mems[i].ID), append(vecs, mems[i].Vector)
		}
	}
	ti.mu.RUnlock()
	err := ti.vec.AddBatch(ids, vecs)
	ti.mu.Lock()
	for _, id := range ids {
		if d := ti.docs[id]; d != nil {
			d.hasVector = err == nil
		}
	}
	ti.gen++
	ti.mu.Unlock()
}

// remove applies a committed delete.
func (ti *tenantIndex) remove(id string) {
	ti.mu.Lock()
	// The set only needs to outlive the race between a write's commit and its index
	// update; ids are never reused, so forgetting old entries is safe.
	if len(ti.deleted) >= 100_000 {
		ti.deleted = map[string]struct{}{}
	}
	ti.deleted[id] = struct{}{}
	if old, ok := ti.docs[id]; ok {
		if ti.stats != nil {
			ti.stats.Remove(old.text)
		}
		ti.indexScope(id, old, false)
		ti.setDoc(id, nil)
	}
	ti.kw.Delete(id)
	ti.gen++
	ti.mu.Unlock()
	ti.vecMu.Lock()
	ti.vec.Delete(id)
	ti.vecMu.Unlock()
}

// setVector applies a re-embedding.
func (ti *tenantIndex) setVector(id string, vec []float32) {
	ti.vecMu.Lock()
	defer ti.vecMu.Unlock()
	ti.mu.RLock()
	_, ok := ti.docs[id]
	ti.mu.RUnlock()
	if !ok || ti.vec.Add(id, vec) != nil {
		return
	}
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if d, ok := ti.docs[id]; ok && !d.hasVector {
		d.hasVector = true
		ti.stale--
	}
	ti.gen++
}

// setDoc stores d as id's doc, or forgets id when d is nil, keeping the count of
// expiring docs; the caller holds mu.
func (ti *tenantIndex) setDoc(id string, d *doc) {
	if old := ti.docs[id]; old != nil && old.expiresAt != nil {
		ti.expiring--
	}
	if d == nil {
		delete(ti.docs, id)
		return
	}
	if d.expiresAt != nil {
		ti.expiring++
	}
	ti.docs[id] = d
}

// indexScope adds id to (or removes it from) the sets of its doc's scope values; the
// caller holds mu. A memory's scope never changes after it is created.
func (ti *tenantIndex) indexScope(id string, d *doc, add bool) {
	for _, f := range []struct {
		sets  map[string]map[string]struct{}
		value string
	}{{ti.byUser, d.userID}, {ti.byAgent, d.agentID}, {ti.bySession, d.sessionID}} {
		if f.value == "" {
			continue
		}
		set := f.sets[f.value]
		if add {
			if set == nil {
				set = map[string]struct{}{}
				f.sets[f.value] = set
			}
			set[id] = struct{}{}
		} else if set != nil {
			delete(set, id)
			if len(set) == 0 {
				delete(f.sets, f.value)
			}
		}
	}
}

// scopedCandidates returns the ids a scoped query can match, from the smallest of its
// scope's sets, when that set is small enough that scoring it directly beats a
// filtered search of the whole tenant; ok is false otherwise. The caller holds mu.
func (ti *tenantIndex) scopedCandidates(sc store.Scope) (ids []string, ok bool) {
	smallest, found := ti.smallestScopeSet(sc)
	if !found || len(smallest) > max(scopedDirectMax, len(ti.docs)/4) && len(smallest) > len(ti.docs)/4 {
		return nil, false
	}
	ids = make([]string, 0, len(smallest))
	for id := range smallest {
		ids = append(ids, id)
	}
	return ids, true
}

// smallestScopeSet returns the smallest of the id sets of sc's user, agent and session
// (nil when a value has no memories); ok is false when sc sets none. The caller holds mu.
func (ti *tenantIndex) smallestScopeSet(sc store.Scope) (smallest map[string]struct{}, ok bool) {
	for _, f := range []struct {
		sets  map[string]map[string]struct{}
		value string
	}{{ti.byUser, sc.UserID}, {ti.byAgent, sc.AgentID}, {ti.bySession, sc.SessionID}} {
		if f.value == "" {
			continue
		}
		set := f.sets[f.value]
		if !ok || len(set) < len(smallest) {
			smallest, ok = set, true
		}
	}
	return smallest, ok
}

// scopedDirectMax bounds the candidates scored directly: up to it, looking each one
// up is cheaper than any search of a large tenant.
const scopedDirectMax = 20_000
