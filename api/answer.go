package api

import (
	"errors"
	"net/http"
	"strings"

	"memoryd/llm"
	"memoryd/memory"
)

// query serves /v1/query: retrieval, re-ranked by the small model where one is
// configured (meta.usage.model_calls says whether it was called).
func (s *Server) query(w http.ResponseWriter, r *http.Request) error {
	if !s.engine.HasChat(llm.TaskRerank) {
		return s.retrieve(w, r)
	}
	q, e := s.retrievalQuery(r)
	if e != nil {
		return e
	}
	res, usage, err := s.engine.Query(r.Context(), caller(r).tenant(), q)
	countModel(r, res, usage)
	if err != nil {
		return upstreamErr(err)
	}
	info(r).work.memoriesRead = int64(len(res.Hits))
	respond(w, r, http.StatusOK, map[string]any{"memories": viewHits(res.Hits)})
	return nil
}

// queryAnswer serves /v1/query/answer: retrieval, then an answer from the memories
// alone, or that it does not know.
func (s *Server) queryAnswer(w http.ResponseWriter, r *http.Request) error {
	var b retrieveBody
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	template := ""
	if b.PromptTemplate != nil {
		template = *b.PromptTemplate
		if len(template) == 0 || len(template) > maxContextBytes || !strings.Contains(template, "{question}") {
			return invalid("prompt_template", "prompt_template must be 1 to %d bytes and contain the {question} slot", maxContextBytes)
		}
	}
	q, e := toQuery(b)
	if e != nil {
		return e
	}
	if !s.engine.HasChat(llm.TaskAnswer) {
		return newError(http.StatusNotImplemented, "LLM_NOT_CONFIGURED",
			"Answers need a chat model: configure one in the [llm] section", nil)
	}
	if e := s.checkEmbeddings(r, 1); e != nil {
		return e
	}
	a, err := s.engine.Answer(r.Context(), caller(r).tenant(), q, template)
	countModel(r, a.Retrieval, a.Usage)
	if errors.Is(err, llm.ErrInvalidOutput) {
		return newError(http.StatusBadGateway, "UPSTREAM_ERROR", "The model's answer was not valid, also after one repair request; try again", nil)
	}
	if err != nil {
		return upstreamErr(err)
	}
	info(r).work.memoriesRead = int64(len(a.Retrieval.Hits))
	respond(w, r, http.StatusOK, map[string]any{"response": a.Response, "memories": viewHits(a.Hits),
		"model": a.Model, "grounded": a.Grounded})
	return nil
}

// countModel adds a retrieval's embedding, a model's calls and the tokens the
// retrieval kept from the model to the request's work.
func countModel(r *http.Request, res memory.Result, u llm.ChatUsage) {
	ri := info(r)
	ri.work.embeddings += int64(res.Embeddings)
	ri.work.tokensIn += int64(res.Tokens) + int64(u.PromptTokens)
	ri.work.tokensOut += int64(u.CompletionTokens)
	ri.work.modelCalls += int64(u.Requests)
	ri.work.costMicros += u.CostMicros
	ri.work.prefilterTokensSaved += res.PrefilterTokensSaved
}

func viewHits(hits []memory.Hit) []hitView {
	out := make([]hitView, len(hits))
	for i, h := range hits {
		out[i] = hitView{memoryView: viewMemory(h.Memory), Relevance: roundRelevance(h.Relevance)}
	}
	return out
}
