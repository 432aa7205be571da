package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"time"

	"memoryd/llm"
	"memoryd/memory"
)

const maxContextBytes = 8 << 10

// retrieveBody is the body of /v1/retrieve, /v1/query and /v1/query/answer.
type retrieveBody struct {
	Context            *string  `json:"context"`
	MaxMemories        *int     `json:"max_memories"`
	RelevanceThreshold *float64 `json:"relevance_threshold"`
	UserID             *string  `json:"user_id"`
	AgentID            *string  `json:"agent_id"`
	SessionID          *string  `json:"session_id"`
	Filters            *struct {
		Metadata      map[string]json.RawMessage `json:"metadata"`
		CreatedAfter  *time.Time                 `json:"created_after"`
		CreatedBefore *time.Time                 `json:"created_before"`
	} `json:"filters"`
	PromptTemplate *string `json:"prompt_template"` // /v1/query/answer only
}

// toQuery validates a retrieval body.
func toQuery(b retrieveBody) (memory.Query, *Error) {
	q := memory.Query{Max: 10}
	if b.Context == nil || len(*b.Context) == 0 {
		return q, invalid("context", "context is required")
	}
	if len(*b.Context) > maxContextBytes {
		return q, invalid("context", "context is %d bytes; the limit is %d", len(*b.Context), maxContextBytes)
	}
	q.Context = *b.Context
	if b.MaxMemories != nil {
		if *b.MaxMemories < 1 || *b.MaxMemories > 100 {
			return q, invalid("max_memories", "max_memories must be from 1 to 100")
		}
		q.Max = *b.MaxMemories
	}
	if b.RelevanceThreshold != nil {
		if *b.RelevanceThreshold < 0 || *b.RelevanceThreshold > 1 {
			return q, invalid("relevance_threshold", "relevance_threshold must be from 0 to 1")
		}
		q.Threshold = float32(*b.RelevanceThreshold)
	}
	var e *Error
	if q.Scope.UserID, e = validScope("user_id", b.UserID); e != nil {
		return q, e
	}
	if q.Scope.AgentID, e = validScope("agent_id", b.AgentID); e != nil {
		return q, e
	}
	if q.Scope.SessionID, e = validScope("session_id", b.SessionID); e != nil {
		return q, e
	}
	if f := b.Filters; f != nil {
		q.CreatedAfter, q.CreatedBefore = f.CreatedAfter, f.CreatedBefore
		if f.CreatedAfter != nil && f.CreatedBefore != nil && !f.CreatedBefore.After(*f.CreatedAfter) {
			return q, invalid("filters.created_before", "filters.created_before must be after filters.created_after")
		}
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			path := "filters.metadata." + k
			var v any
			if err := json.Unmarshal(f.Metadata[k], &v); err != nil {
				return q, invalid(path, "%s is not valid JSON", path)
			}
			switch x := v.(type) {
			case map[string]any:
				in, ok := x["in"].([]any)
				if len(x) != 1 || !ok || len(in) == 0 || len(in) > 100 {
					return q, invalid(path, `%s must be a value to equal, or {"in": [1 to 100 values]}`, path)
				}
				if q.MetadataIn == nil {
					q.MetadataIn = map[string][]any{}
				}
				q.MetadataIn[k] = in
			case []any:
				return q, invalid(path, `%s must be a value to equal, or {"in": [...]}`, path)
			default:
				if q.MetadataEq == nil {
					q.MetadataEq = map[string]any{}
				}
				q.MetadataEq[k] = x
			}
		}
	}
	return q, nil
}

type hitView struct {
	memoryView
	Relevance float64 `json:"relevance"`
}

// retrieve serves /v1/retrieve and, with no re-ranking model configured, /v1/query:
// it never calls a language model.
func (s *Server) retrieve(w http.ResponseWriter, r *http.Request) error {
	q, e := s.retrievalQuery(r)
	if e != nil {
		return e
	}
	res, err := s.engine.Retrieve(r.Context(), caller(r).tenant(), q)
	if err != nil {
		return upstreamErr(err)
	}
	ri := info(r)
	ri.work.memoriesRead = int64(len(res.Hits))
	ri.work.embeddings = int64(res.Embeddings)
	ri.work.tokensIn = int64(res.Tokens)
	buf := s.answers.get()
	defer s.answers.put(buf)
	b := successStart(slices.Grow((*buf)[:0], 512+512*len(res.Hits)))
	b = append(b, `{"memories":[`...)
	for i, h := range res.Hits {
		if i > 0 {
			b = append(b, ',')
		}
		v := hitView{memoryView: viewMemory(h.Memory), Relevance: roundRelevance(h.Relevance)}
		b = v.appendJSON(b)
	}
	*buf = respondEncoded(w, r, http.StatusOK, append(b, "]}"...))
	return nil
}

// retrievalQuery validates the body of /v1/retrieve or /v1/query and checks the
// embedding its query needs against the plan.
func (s *Server) retrievalQuery(r *http.Request) (memory.Query, *Error) {
	var b retrieveBody
	if e := decodeStrict(body(r), &b); e != nil {
		return memory.Query{}, e
	}
	if b.PromptTemplate != nil {
		return memory.Query{}, invalid("prompt_template", "prompt_template is only for /v1/query/answer")
	}
	q, e := toQuery(b)
	if e != nil {
		return q, e
	}
	return q, s.checkEmbeddings(r, 1)
}

func roundRelevance(f float32) float64 {
	return float64(int64(float64(f)*10000+0.5)) / 10000
}

// upstreamErr maps a model provider's failure after retries to 502.
func upstreamErr(err error) error {
	if errors.Is(err, llm.ErrUpstream) {
		return newError(http.StatusBadGateway, "UPSTREAM_ERROR", "The model provider failed; try again later", nil)
	}
	return err
}
