package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"memoryd/llm"
)

// RerankPool is how many retrieval candidates the re-ranking model scores.
const RerankPool = 50

const rerankSystem = `You rate how useful each memory is for answering or continuing the query, from 0 (unrelated) to 10 (answers it directly).
Answer with a JSON object {"scores": [<one integer per memory, in the order given>]}.`

// Query re-ranks: the top RerankPool memories by retrieval are scored by the
// re-ranking model, and the best q.Max by its score are returned, their relevance
// the score over 10. Without a re-ranking model it is Retrieve. When the model fails
// (after retries, or with an answer invalid after one repair) the retrieval order
// stands: a query is answered either way. The usage says what the model cost.
func (e *Engine) Query(ctx context.Context, t Tenant, q Query) (Result, llm.ChatUsage, error) {
	if !e.chat.Has(llm.TaskRerank) {
		res, err := e.Retrieve(ctx, t, q)
		return res, llm.ChatUsage{}, err
	}
	want := q.Max
	q.Max = max(RerankPool, want)
	res, err := e.Retrieve(ctx, t, q)
	if err != nil || len(res.Hits) == 0 {
		return res, llm.ChatUsage{}, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Query: %s\n\nMemories:\n", q.Context)
	for i, h := range res.Hits {
		fmt.Fprintf(&b, "%d: %s\n", i, h.Memory.Text)
	}
	var scores []float64
	usage, err := e.chat.CompleteJSON(ctx, llm.TaskRerank,
		[]llm.Message{{Role: "system", Content: rerankSystem}, {Role: "user", Content: b.String()}},
		func(s string) error { var err error; scores, err = parseScores(s, len(res.Hits)); return err })
	res.PrefilterTokensSaved = e.prefilterSaved(t, q, res.Hits, usage.Requests)
	if err != nil {
		if ctx.Err() != nil {
			return res, usage, ctx.Err()
		}
		e.log.Warn("re-ranking failed; answering in retrieval order", "err", err)
		res.Hits = res.Hits[:min(want, len(res.Hits))]
		return res, usage, nil
	}
	order := make([]int, len(res.Hits))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	hits := make([]Hit, 0, want)
	for _, i := range order {
		h := res.Hits[i]
		h.Relevance = roundScore(float32(scores[i] / 10))
		if h.Relevance < q.Threshold {
			break
		}
		hits = append(hits, h)
		if len(hits) == want {
			break
		}
	}
	res.Hits = hits
	return res, usage, nil
}

// parseScores decodes and checks a re-ranking answer: one score in 0–10 per memory.
func parseScores(s string, n int) ([]float64, error) {
	var a struct {
		Scores []float64 `json:"scores"`
	}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf(`not a JSON object with a "scores" array of numbers: %v`, err)
	}
	if len(a.Scores) != n {
		return nil, fmt.Errorf(`"scores" has %d numbers for %d memories`, len(a.Scores), n)
	}
	for i, v := range a.Scores {
		if v < 0 || v > 10 {
			return nil, fmt.Errorf(`scores[%d] is %v, not from 0 to 10`, i, v)
		}
	}
	return a.Scores, nil
}
