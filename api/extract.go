package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"memoryd/memory"
	"memoryd/meter"
	"memoryd/store"
)

// batchExtract queues a job that extracts memories from a dialogue: with the chat
// model where one is configured, else with rules (the job's result says which).
func (s *Server) batchExtract(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Messages *[]struct {
			Role      *string    `json:"role"`
			Content   *string    `json:"content"`
			CreatedAt *time.Time `json:"created_at"`
		} `json:"messages"`
		UserID    *string         `json:"user_id"`
		AgentID   *string         `json:"agent_id"`
		SessionID *string         `json:"session_id"`
		Metadata  json.RawMessage `json:"metadata"`
	}
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	if b.Messages == nil || len(*b.Messages) == 0 || len(*b.Messages) > maxBatchItems {
		return invalid("messages", "messages must hold 1 to %d messages", maxBatchItems)
	}
	req := memory.ExtractRequest{At: s.now().UTC()}
	for i, m := range *b.Messages {
		path := "messages[" + strconv.Itoa(i) + "]"
		if m.Role == nil || (*m.Role != "user" && *m.Role != "assistant" && *m.Role != "system") {
			return invalid(path+".role", "%s.role must be user, assistant or system", path)
		}
		if e := validText(path+".content", m.Content); e != nil {
			return e
		}
		msg := memory.ExtractMessage{Role: *m.Role, Content: *m.Content}
		if m.CreatedAt != nil {
			at := m.CreatedAt.UTC()
			msg.CreatedAt = &at
		}
		req.Messages = append(req.Messages, msg)
	}
	var e *Error
	if req.UserID, e = validScope("user_id", b.UserID); e != nil {
		return e
	}
	if req.AgentID, e = validScope("agent_id", b.AgentID); e != nil {
		return e
	}
	if req.SessionID, e = validScope("session_id", b.SessionID); e != nil {
		return e
	}
	if req.Metadata, e = validMetadata("metadata", b.Metadata); e != nil {
		return e
	}
	p := caller(r)
	req.MaxStored = meter.HardCap(s.cfg, p.org, "memories_stored")
	j, err := s.engine.SubmitExtract(p.tenant(), p.key.ID, req)
	if err != nil {
		return err
	}
	respond(w, r, http.StatusAccepted, map[string]any{"job": viewJob(j)})
	return nil
}

// cancelJob cancels a queued or running job; the steps it committed stay applied.
// Canceling a canceled job answers it again; a job that succeeded or failed cannot
// be canceled.
func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("job_id")
	if !store.ValidID(id, "job_") {
		return errNotFound("JOB_NOT_FOUND", "Job")
	}
	j, err := s.engine.CancelJob(caller(r).tenant(), id)
	if errors.Is(err, memory.ErrJobNotFound) {
		return errNotFound("JOB_NOT_FOUND", "Job")
	}
	if err != nil {
		return err
	}
	if j.Status != "canceled" {
		return newError(http.StatusBadRequest, "INVALID_REQUEST", "The job has already "+j.Status+" and cannot be canceled",
			map[string]any{"field": "job_id", "status": j.Status})
	}
	respond(w, r, http.StatusOK, viewJob(j))
	return nil
}
