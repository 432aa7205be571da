package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"memoryd/llm"
	"memoryd/store"
)

// ErrJobNotFound is returned for a job that is not the tenant's.
var ErrJobNotFound = errors.New("memory: job not found")

// embedBatch is how many memories a re-embedding job embeds and commits at a time.
const embedBatch = 100

// jobQueue holds jobs waiting for the worker. Jobs are stored before they are queued,
// so a restart finds and runs again any that had not finished.
type jobQueue struct {
	ch      chan store.Job
	workers int
	running sync.Map // job id → context.CancelFunc of a job being run
	// scopes serialise the steps of extraction jobs writing to one scope (striped by
	// a hash of tenant and scope), so two jobs never both add the same new fact.
	scopes [64]sync.Mutex
}

// SubmitEmbeddings queues a job that re-embeds the given memories (all of the
// tenant's when ids is empty) with the current embedder. Unknown ids fail it at once
// with ErrNotFound.
func (e *Engine) SubmitEmbeddings(t Tenant, keyID string, ids []string) (store.Job, error) {
	for _, id := range ids {
		if _, err := e.store.GetMemory(t.OrgID, t.Mode, id); err != nil {
			return store.Job{}, mapErr(err)
		}
	}
	params, _ := json.Marshal(map[string]any{"memory_ids": ids})
	j := store.Job{ID: store.NewID("job_"), OrgID: t.OrgID, Mode: t.Mode, Type: "embeddings", Status: "queued",
		Total: len(ids), Params: params, KeyID: keyID, CreatedAt: e.now().UTC()}
	if err := e.store.PutJob(j); err != nil {
		return store.Job{}, err
	}
	e.jobs.ch <- j
	return j, nil
}

// Job returns one job of the tenant.
func (e *Engine) Job(t Tenant, id string) (store.Job, error) {
	j, err := e.store.GetJob(t.OrgID, t.Mode, id)
	if errors.Is(err, store.ErrJobNotFound) || errors.Is(err, store.ErrOrgNotFound) {
		return j, ErrJobNotFound
	}
	return j, err
}

// CancelJob cancels a queued or running job of the tenant: it stops before its next
// step, and a step that was being decided is not applied. A finished job is returned
// as it is.
func (e *Engine) CancelJob(t Tenant, id string) (store.Job, error) {
	j, err := e.store.CancelJob(t.OrgID, t.Mode, id, e.now())
	if errors.Is(err, store.ErrJobNotFound) || errors.Is(err, store.ErrOrgNotFound) {
		return j, ErrJobNotFound
	}
	if err == nil && j.Status == "canceled" {
		if cancel, ok := e.jobs.running.Load(id); ok {
			cancel.(context.CancelFunc)()
		}
	}
	return j, err
}

// RunJobs runs queued jobs, a bounded number at once, until ctx ends, starting with
// those a previous run left unfinished.
func (e *Engine) RunJobs(ctx context.Context) {
	left, err := e.store.UnfinishedJobs()
	if err != nil {
		e.log.Error("list unfinished jobs", "err", err)
	}
	resumed := make(chan store.Job)
	go func() {
		defer close(resumed)
		for _, j := range left {
			e.log.Info("resuming job", "job_id", j.ID, "type", j.Type)
			select {
			case resumed <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range e.jobs.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range resumed {
				e.runJob(ctx, j)
			}
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-e.jobs.ch:
					e.runJob(ctx, j)
				}
			}
		}()
	}
	wg.Wait()
}

func (e *Engine) runJob(ctx context.Context, j store.Job) {
	if cur, err := e.store.GetJob(j.OrgID, j.Mode, j.ID); err != nil || (cur.Status != "queued" && cur.Status != "running") {
		return // finished already, canceled, or its org is gone
	} else {
		j = cur // a resumed job goes on from its last committed step
	}
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.jobs.running.Store(j.ID, cancel)
	defer e.jobs.running.Delete(j.ID)
	if j.StartedAt == nil {
		now := e.now().UTC()
		j.StartedAt = &now
	}
	j.Status = "running"
	if err := e.store.PutJob(j); err != nil {
		e.log.Error("start job", "job_id", j.ID, "err", err)
		return
	}
	var result any
	var err error
	switch j.Type {
	case "embeddings":
		result, err = e.reembed(jctx, &j)
	case "extract":
		result, err = e.extract(jctx, &j)
	default:
		err = fmt.Errorf("unknown job type %q", j.Type)
	}
	if jctx.Err() != nil || errors.Is(err, store.ErrJobStopped) {
		// Stopped with the server: it stays running and resumes at the next start. Or
		// canceled: the store says so already.
		return
	}
	done := e.now().UTC()
	j.FinishedAt = &done
	if result != nil {
		j.Result, _ = json.Marshal(result)
	}
	var jf *jobFailure
	switch {
	case errors.As(err, &jf):
		j.Status, j.ErrCode, j.ErrMessage = "failed", jf.code, jf.message
		e.log.Warn("job failed", "job_id", j.ID, "code", jf.code, "err", jf.err)
	case err != nil:
		j.Status, j.ErrCode, j.ErrMessage = "failed", "INTERNAL_ERROR", "The job failed"
		if errors.Is(err, llm.ErrUpstream) {
			j.ErrCode, j.ErrMessage = "UPSTREAM_ERROR", "The model provider failed after retries"
		}
		e.log.Error("job failed", "job_id", j.ID, "err", err)
	default:
		j.Status = "succeeded"
	}
	// Written only while the job is still running: a cancel that came first stands.
	if _, err := e.store.ApplyJobStep(j, store.JobStep{}); err != nil && !errors.Is(err, store.ErrJobStopped) {
		e.log.Error("finish job", "job_id", j.ID, "err", err)
	}
}

// jobFailure is a job's failure with the code and message its error shows.
type jobFailure struct {
	code, message string
	err           error
}

func (f *jobFailure) Error() string { return f.code + ": " + f.message + ": " + f.err.Error() }
func (f *jobFailure) Unwrap() error { return f.err }

// reembed embeds the job's memories again with the current embedder, a batch at a
// time, committing each batch's vectors and applying them to the index.
func (e *Engine) reembed(ctx context.Context, j *store.Job) (any, error) {
	t := Tenant{OrgID: j.OrgID, Mode: j.Mode}
	ti, err := e.tenant(t)
	if err != nil {
		return nil, err
	}
	var params struct {
		MemoryIDs []string `json:"memory_ids"`
	}
	_ = json.Unmarshal(j.Params, &params)
	want := map[string]bool{}
	for _, id := range params.MemoryIDs {
		want[id] = true
	}
	type item struct{ id, text string }
	var items []item
	_, err = e.store.ScanIndexed(t.OrgID, t.Mode, func(m *store.Memory, _ string, _ []float32) error {
		if len(want) == 0 || want[m.ID] {
			items = append(items, item{m.ID, m.Text})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	j.Total, j.Done = len(items), 0
	model := e.embedder.Model()
	for start := 0; start < len(items); start += embedBatch {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		part := items[start:min(start+embedBatch, len(items))]
		texts := make([]string, len(part))
		for i, it := range part {
			texts[i] = it.text
		}
		began := time.Now()
		vecs, usage, err := e.embed(ctx, texts)
		if err != nil {
			return nil, err
		}
		set := make(map[string][]float32, len(part))
		for i, it := range part {
			set[it.id] = vecs[i]
		}
		if _, err := e.store.SetVectors(t.OrgID, t.Mode, model, set); err != nil {
			return nil, err
		}
		for id, v := range set {
			ti.setVector(id, v)
		}
		j.Done += len(part)
		if _, err := e.store.ApplyJobStep(*j, store.JobStep{}); err != nil {
			return nil, err
		}
		if e.onUsage != nil {
			e.onUsage(store.UsageEvent{OrgID: t.OrgID, Mode: t.Mode, KeyID: j.KeyID, Endpoint: "job embeddings",
				Status: 200, Embeddings: int64(len(part)), TokensIn: e.billedTokens(usage), RequestID: j.ID,
				DurationMS: float64(time.Since(began).Microseconds()) / 1000, At: began.UTC(), Job: true})
		}
	}
	return map[string]any{"embedder": e.embedder.Name() + "/" + model, "memories_embedded": j.Done}, nil
}
