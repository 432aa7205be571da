package memory

// bytesPerToken is the bytes of text a model token stands for in the prefilter's
// estimate (see prefilterSaved).
const bytesPerToken = 4

// prefilterSaved estimates the prompt tokens retrieval kept away from a model that was
// called requests times with sent, the memories retrieval picked, instead of every
// memory in the query's scope: (memories q admits − len(sent)) × the mean size of the
// sent memories' texts, at 4 bytes a token (OpenAI's rule of thumb for English text;
// real tokenizers vary by model and language, and the prompt's per-memory formatting is
// left out), once per request the model got, since each request carried the memories.
// It is an estimate, not a count any model reported.
func (e *Engine) prefilterSaved(t Tenant, q Query, sent []Hit, requests int) int64 {
	if requests == 0 || len(sent) == 0 {
		return 0
	}
	scope, err := e.inScope(t, q)
	if err != nil || scope <= len(sent) {
		return 0
	}
	var textBytes int
	for _, h := range sent {
		textBytes += len(h.Memory.Text)
	}
	perRequest := float64(scope-len(sent)) * float64(textBytes) / float64(len(sent)*bytesPerToken)
	return int64(requests) * int64(perRequest+0.5)
}

// inScope counts the memories q admits (its scope and filters, not expired): those a
// prompt would hold without retrieval.
func (e *Engine) inScope(t Tenant, q Query) (int, error) {
	ti, err := e.tenant(t)
	if err != nil {
		return 0, err
	}
	now := e.now()
	ti.mu.RLock()
	defer ti.mu.RUnlock()
	n := 0
	if set, ok := ti.smallestScopeSet(q.Scope); ok {
		for id := range set {
			if d := ti.docs[id]; d != nil && q.admits(d, now) {
				n++
			}
		}
		return n, nil
	}
	if q.unconstrained() && ti.expiring == 0 {
		return len(ti.docs), nil
	}
	for _, d := range ti.docs {
		if q.admits(d, now) {
			n++
		}
	}
	return n, nil
}
