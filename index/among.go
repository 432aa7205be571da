package index

// SearchAmong scores only the given ids (those present) and returns the k nearest,
// best first. For a query scoped to a small set of items inside a large index (one
// user's memories among a tenant's), looking the few items up costs far less than
// walking or scanning the whole index with a filter.
func (e *Exact) SearchAmong(q []float32, k int, ids []string) []Result {
	query, err := prepareVector(q, e.dim, e.metric)
	if err != nil || k <= 0 {
		return nil
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	best := make(maxQueue, 0, k+1)
	for _, id := range ids {
		if slot, ok := e.slots[id]; ok {
			dist := 1 - Dot(query, e.vectors[int(slot)*e.dim:(int(slot)+1)*e.dim])
			best.pushBounded(candidate{dist: dist, slot: slot}, k)
		}
	}
	ranked := best.sortedAscending()
	out := make([]Result, len(ranked))
	for i, c := range ranked {
		out[i] = toResult(e.ids[c.slot], 1-c.dist)
	}
	return out
}

// SearchAmong is (*Exact).SearchAmong over the graph's live items.
func (h *HNSW) SearchAmong(q []float32, k int, ids []string) []Result {
	query, err := prepareVector(q, h.dim, h.cfg.Metric)
	if err != nil || k <= 0 {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	g := h.g
	best := make(maxQueue, 0, k+1)
	for _, id := range ids {
		if slot, ok := g.slots[id]; ok && g.state[slot] == slotLive {
			best.pushBounded(candidate{dist: g.exactDistance(query, slot), slot: slot}, k)
		}
	}
	ranked := best.sortedAscending()
	out := make([]Result, len(ranked))
	for i, c := range ranked {
		out[i] = toResult(g.ids[c.slot], 1-c.dist)
	}
	return out
}

// SearchAmong searches the current index among ids only.
func (a *Auto) SearchAmong(q []float32, k int, ids []string) []Result {
	a.mu.RLock()
	exact, hnsw := a.exact, a.hnsw
	a.mu.RUnlock()
	if hnsw != nil {
		return hnsw.SearchAmong(q, k, ids)
	}
	return exact.SearchAmong(q, k, ids)
}
