package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"memoryd/memory"
	"memoryd/store"
)

type jobView struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Status   string `json:"status"`
	Progress struct {
		Total  int `json:"total"`
		Done   int `json:"done"`
		Failed int `json:"failed"`
	} `json:"progress"`
	Result     json.RawMessage `json:"result"`
	Error      *jobErrorView   `json:"error"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
}

type jobErrorView struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func viewJob(j store.Job) jobView {
	v := jobView{ID: j.ID, Type: j.Type, Status: j.Status, Result: j.Result,
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt}
	v.Progress.Total, v.Progress.Done, v.Progress.Failed = j.Total, j.Done, j.Failed
	if len(v.Result) == 0 {
		v.Result = json.RawMessage("null")
	}
	if j.ErrCode != "" {
		v.Error = &jobErrorView{Code: j.ErrCode, Message: j.ErrMessage}
	}
	return v
}

// batchEmbeddings queues a re-embedding of some or all memories with the current
// embedder: the way to move stored vectors to a new model.
func (s *Server) batchEmbeddings(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		MemoryIDs *[]string `json:"memory_ids"`
	}
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	var ids []string
	if b.MemoryIDs != nil {
		ids = *b.MemoryIDs
		if len(ids) == 0 || len(ids) > maxBatchItems {
			return invalid("memory_ids", "memory_ids must hold 1 to %d ids, or be left out for all memories", maxBatchItems)
		}
		for i, id := range ids {
			if !store.ValidID(id, "mem_") {
				return newError(http.StatusNotFound, "MEMORY_NOT_FOUND", "Memory not found", map[string]any{"field": "memory_ids[" + itoa(int64(i)) + "]"})
			}
		}
	}
	p := caller(r)
	j, err := s.engine.SubmitEmbeddings(p.tenant(), p.key.ID, ids)
	if errors.Is(err, memory.ErrNotFound) {
		return errMemoryNotFound
	}
	if err != nil {
		return err
	}
	respond(w, r, http.StatusAccepted, map[string]any{"job": viewJob(j)})
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("job_id")
	if !store.ValidID(id, "job_") {
		return errNotFound("JOB_NOT_FOUND", "Job")
	}
	j, err := s.engine.Job(caller(r).tenant(), id)
	if errors.Is(err, memory.ErrJobNotFound) {
		return errNotFound("JOB_NOT_FOUND", "Job")
	}
	if err != nil {
		return err
	}
	respond(w, r, http.StatusOK, viewJob(j))
	return nil
}
