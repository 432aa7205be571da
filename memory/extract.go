package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"memoryd/llm"
	"memoryd/store"
)

// ExtractMessage is one turn of a dialogue to extract memories from.
type ExtractMessage struct {
	Role      string     `json:"role"`
	Content   string     `json:"content"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// ExtractRequest asks for memories from a dialogue, written in one scope.
type ExtractRequest struct {
	Messages  []ExtractMessage `json:"messages"`
	UserID    string           `json:"user_id,omitempty"`
	AgentID   string           `json:"agent_id,omitempty"`
	SessionID string           `json:"session_id,omitempty"`
	Metadata  json.RawMessage  `json:"metadata,omitempty"`
	// At is when the request came: the time of messages that carry none.
	At time.Time `json:"at"`
	// MaxStored caps the tenant's stored memories (0: no cap); a fact whose ADD would
	// pass it fails the job with QUOTA_EXCEEDED and is not applied.
	MaxStored int64 `json:"max_stored,omitempty"`
}

func (r *ExtractRequest) scope() store.Scope {
	return store.Scope{UserID: r.UserID, AgentID: r.AgentID, SessionID: r.SessionID}
}

// Fact is one thing the dialogue says, with the time it refers to (ISO 8601, or
// empty when unknown).
type Fact struct {
	Text string `json:"text"`
	Time string `json:"time,omitempty"`
}

// ExtractEvent is what one fact did to the memories: ADD, UPDATE, DELETE, NOOP, or
// FAILED when no valid decision could be had for it (Reason says why).
type ExtractEvent struct {
	Event        string  `json:"event"`
	MemoryID     string  `json:"memory_id,omitempty"`
	Text         string  `json:"text,omitempty"`
	PreviousText *string `json:"previous_text,omitempty"`
	Fact         string  `json:"fact"`
	Time         string  `json:"time,omitempty"`
	Reason       string  `json:"reason,omitempty"`
}

// extractState is an extraction job's progress, committed with every step: the
// facts found, and the events of the steps applied.
type extractState struct {
	Extractor string         `json:"extractor"` // "llm" or "rules"
	Extracted bool           `json:"extracted"`
	Facts     []Fact         `json:"facts"`
	Events    []ExtractEvent `json:"events"`
}

// Extractor names.
const (
	ExtractorLLM   = "llm"
	ExtractorRules = "rules"
)

// HasChat reports whether a chat model is configured for the task.
func (e *Engine) HasChat(t llm.Task) bool { return e.chat.Has(t) }

// ChatModel is the task's model ("" when none).
func (e *Engine) ChatModel(t llm.Task) string { return e.chat.Model(t) }

// SubmitExtract queues a job that extracts memories from a dialogue.
func (e *Engine) SubmitExtract(t Tenant, keyID string, req ExtractRequest) (store.Job, error) {
	params, err := json.Marshal(req)
	if err != nil {
		return store.Job{}, err
	}
	j := store.Job{ID: store.NewID("job_"), OrgID: t.OrgID, Mode: t.Mode, Type: "extract", Status: "queued",
		Params: params, KeyID: keyID, CreatedAt: e.now().UTC()}
	if err := e.store.PutJob(j); err != nil {
		return store.Job{}, err
	}
	e.jobs.ch <- j
	return j, nil
}

// extract runs an extraction job from its last committed step: first the facts
// (committed as the job's state, writing no memory), then one step per fact, each
// committed with the job's progress in one transaction, so a step is never applied
// twice however the process stops.
func (e *Engine) extract(ctx context.Context, j *store.Job) (any, error) {
	t := Tenant{OrgID: j.OrgID, Mode: j.Mode}
	ti, err := e.tenant(t)
	if err != nil {
		return nil, err
	}
	var req ExtractRequest
	if err := json.Unmarshal(j.Params, &req); err != nil {
		return nil, err
	}
	var st extractState
	if len(j.State) > 0 {
		if err := json.Unmarshal(j.State, &st); err != nil {
			return nil, err
		}
	}
	if st.Extractor == "" {
		st.Extractor = ExtractorRules
		if e.chat.Has(llm.TaskExtraction) && e.chat.Has(llm.TaskUpdate) {
			st.Extractor = ExtractorLLM
		}
	}
	if st.Extractor == ExtractorLLM && !(e.chat.Has(llm.TaskExtraction) && e.chat.Has(llm.TaskUpdate)) {
		return nil, &jobFailure{code: "LLM_NOT_CONFIGURED", message: "The job was started with a language model, which is no longer configured",
			err: llm.ErrNoModel}
	}
	if !st.Extracted {
		began := time.Now()
		var facts []Fact
		var usage llm.ChatUsage
		if st.Extractor == ExtractorLLM {
			facts, usage, err = e.llmFacts(ctx, req)
		} else {
			facts = ruleFacts(req)
		}
		e.meterJob(j, began, usage, llm.Usage{}, 0, 0)
		if errors.Is(err, llm.ErrInvalidOutput) {
			return st.result(), &jobFailure{code: "MODEL_OUTPUT_INVALID",
				message: "The model's extraction answer was not valid JSON, also after one repair request; nothing was applied", err: err}
		}
		if err != nil {
			return nil, err
		}
		st.Facts, st.Extracted = facts, true
		j.Total = len(facts)
		j.State, _ = json.Marshal(st)
		if _, err := e.store.ApplyJobStep(*j, store.JobStep{}); err != nil {
			return nil, err
		}
	}
	for i := j.Done + j.Failed; i < len(st.Facts); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := e.extractStep(ctx, t, ti, j, &req, &st, st.Facts[i]); err != nil {
			return st.result(), err
		}
	}
	if j.Failed > 0 {
		return st.result(), &jobFailure{code: "MODEL_OUTPUT_INVALID",
			message: fmt.Sprintf("%d of %d facts got no valid decision from the model (also after one repair request); they are listed as FAILED in the result's events, the others were applied", j.Failed, j.Total),
			err:     llm.ErrInvalidOutput}
	}
	return st.result(), nil
}

// result is the job's answer: the events, and what they did in sum.
func (st *extractState) result() map[string]any {
	created, updated, deleted := 0, 0, 0
	ids := []string{}
	for _, ev := range st.Events {
		switch ev.Event {
		case "ADD":
			created++
		case "UPDATE":
			updated++
		case "DELETE":
			deleted++
		}
		if ev.Event == "ADD" || ev.Event == "UPDATE" {
			ids = append(ids, ev.MemoryID)
		}
	}
	events := st.Events
	if events == nil {
		events = []ExtractEvent{}
	}
	return map[string]any{"extractor": st.Extractor, "events": events, "facts": len(st.Facts),
		"memories_created": created, "memories_updated": updated, "memories_deleted": deleted, "memory_ids": ids}
}

// decision is what to do with one fact.
type decision struct {
	event  string // ADD, UPDATE, DELETE, NOOP
	target *store.Memory
	text   string
}

// extractStep decides one fact against the most similar memories of the scope and
// commits the decision's writes with the job's progress.
func (e *Engine) extractStep(ctx context.Context, t Tenant, ti *tenantIndex, j *store.Job, req *ExtractRequest, st *extractState, f Fact) error {
	h := fnv.New32a()
	h.Write([]byte(t.OrgID + "\x00" + string(t.Mode) + "\x00" + req.UserID + "\x00" + req.AgentID + "\x00" + req.SessionID))
	mu := &e.jobs.scopes[h.Sum32()%uint32(len(e.jobs.scopes))]
	mu.Lock()
	defer mu.Unlock()
	began := time.Now()
	cands, embUsage, embedded, err := e.similar(ctx, t, req.scope(), f.Text, 5)
	if err != nil {
		return err
	}
	var d decision
	var usage llm.ChatUsage
	if st.Extractor == ExtractorLLM {
		d, usage, err = e.llmDecide(ctx, f, cands)
	} else {
		d = ruleDecide(f, cands)
	}
	ev := ExtractEvent{Event: d.event, Fact: f.Text, Time: f.Time}
	if errors.Is(err, llm.ErrInvalidOutput) {
		ev = ExtractEvent{Event: "FAILED", Fact: f.Text, Time: f.Time, Reason: err.Error()}
		d, err = decision{}, nil
	}
	if err != nil {
		e.meterJob(j, began, usage, embUsage, embedded, 0)
		return err
	}
	now := e.now().UTC()
	step := store.JobStep{Change: store.Change{At: now, Source: "extract", JobID: j.ID, MaxStored: req.MaxStored}}
	if d.event == "ADD" || d.event == "UPDATE" {
		vecs, u, err := e.embed(ctx, []string{d.text})
		if err != nil {
			return err
		}
		embUsage, embedded = embUsage.Add(u), embedded+1
		m := store.Memory{Text: d.text, Vector: vecs[0], VectorModel: e.embedder.Model()}
		if d.event == "ADD" {
			m.ID, m.Metadata = store.NewID("mem_"), factMetadata(req.Metadata, f.Time)
			m.UserID, m.AgentID, m.SessionID = req.UserID, req.AgentID, req.SessionID
			m.CreatedAt, m.UpdatedAt, m.Version = now, now, 1
			step.Create = []store.Memory{m}
			ev.MemoryID, ev.Text = m.ID, m.Text
		} else {
			m.ID = d.target.ID
			step.Update = []store.Memory{m}
			prev := d.target.Text
			ev.MemoryID, ev.Text, ev.PreviousText = m.ID, m.Text, &prev
		}
	}
	if d.event == "DELETE" {
		step.Delete = []string{d.target.ID}
		prev := d.target.Text
		ev.MemoryID, ev.PreviousText = d.target.ID, &prev
	}
	if d.event == "NOOP" {
		ev.MemoryID, ev.Text = d.target.ID, d.target.Text
	}
	// The job's progress and state move with the step's commit, or not at all.
	before, events := *j, len(st.Events)
	st.Events = append(st.Events, ev)
	if ev.Event == "FAILED" {
		j.Failed++
	} else {
		j.Done++
	}
	j.State, _ = json.Marshal(st)
	updated, err := e.store.ApplyJobStep(*j, step)
	if err != nil {
		*j, st.Events = before, st.Events[:events]
	}
	if errors.Is(err, store.ErrQuotaStored) {
		return &jobFailure{code: "QUOTA_EXCEEDED", err: err,
			message: "The plan's memories_stored quota is used up: the facts from this one on were not applied"}
	}
	if err != nil {
		return mapErr(err)
	}
	ti.putMany(step.Create)
	ti.putMany(updated)
	for _, id := range step.Delete {
		ti.remove(id)
	}
	if e.onMemory != nil {
		for _, m := range step.Create {
			e.onMemory(t, "memory.created", m)
		}
		for _, m := range updated {
			e.onMemory(t, "memory.updated", m)
		}
		if d.event == "DELETE" {
			e.onMemory(t, "memory.deleted", *d.target)
		}
	}
	e.meterJob(j, began, usage, embUsage, embedded, len(step.Create)+len(step.Update)+len(step.Delete))
	return nil
}

// meterJob records the usage of a job's step: model tokens and calls, embeddings,
// memories written.
func (e *Engine) meterJob(j *store.Job, began time.Time, chat llm.ChatUsage, emb llm.Usage, embedded, written int) {
	if e.onUsage == nil || (chat.Requests == 0 && embedded == 0 && written == 0) {
		return
	}
	e.onUsage(store.UsageEvent{OrgID: j.OrgID, Mode: j.Mode, KeyID: j.KeyID, Endpoint: "job " + j.Type, Status: 200,
		TokensIn: int64(chat.PromptTokens) + e.billedTokens(emb), TokensOut: int64(chat.CompletionTokens),
		ModelCalls: int64(chat.Requests), CostMicros: chat.CostMicros, Embeddings: int64(embedded),
		MemoriesWritten: int64(written), RequestID: j.ID, DurationMS: float64(time.Since(began).Microseconds()) / 1000,
		At: began.UTC(), Job: true})
}

// factMetadata is the metadata of a memory made from a fact: the request's, plus
// refers_to, the time the fact refers to, when known and not set by the request.
func factMetadata(base json.RawMessage, at string) json.RawMessage {
	if at == "" {
		return base
	}
	m := map[string]any{}
	if len(base) > 0 {
		_ = json.Unmarshal(base, &m)
	}
	if _, ok := m["refers_to"]; !ok {
		m["refers_to"] = at
	}
	raw, _ := json.Marshal(m)
	return raw
}

// similar returns up to n memories of exactly the scope most similar to text.
func (e *Engine) similar(ctx context.Context, t Tenant, sc store.Scope, text string, n int) ([]store.Memory, llm.Usage, int, error) {
	res, err := e.Retrieve(ctx, t, Query{Context: text, Max: 4 * n, Scope: sc})
	if err != nil {
		return nil, llm.Usage{}, 0, err
	}
	var out []store.Memory
	for _, h := range res.Hits {
		m := h.Memory
		if m.UserID == sc.UserID && m.AgentID == sc.AgentID && m.SessionID == sc.SessionID {
			out = append(out, m)
			if len(out) == n {
				break
			}
		}
	}
	return out, llm.Usage{PromptTokens: res.Tokens}, res.Embeddings, nil
}

// messageTime is when a message was said.
func messageTime(req *ExtractRequest, m ExtractMessage) time.Time {
	if m.CreatedAt != nil {
		return m.CreatedAt.UTC()
	}
	return req.At.UTC()
}

// normalizedText is a text as compared for exact duplicates: lower case, words only.
func normalizedText(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r > 127)
	}), " ")
}
