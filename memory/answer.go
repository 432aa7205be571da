package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"memoryd/llm"
)

// DontKnow is the answer when no memory answers a question. It is fixed text, not
// the model's: an ungrounded answer must not carry anything the model made up.
const DontKnow = "I don't know: nothing I remember answers that."

// AnswerFloor is the least relevance a memory needs to be shown to the answer model
// when the query sets no threshold.
const AnswerFloor = 0.2

const answerSystem = `You answer questions about a user from their stored memories, and from nothing else.
Memories (numbered; "refers to" is when a fact became true):
%s
Rules:
- Use only these memories. Never guess, never use general knowledge about the user, never fill gaps.
- When the memories do not answer the question, say so: grounded is false.
- When memories disagree, the one updated last holds.
Answer with a JSON object {"answer": "<a short answer>", "grounded": true | false, "memories": [<numbers of the memories the answer rests on>]}.`

// Answer is a grounded answer and the memories it rests on.
type Answer struct {
	Response  string
	Hits      []Hit // the memories the answer rests on; none when not grounded
	Model     string
	Grounded  bool
	Retrieval Result
	Usage     llm.ChatUsage
}

// Answer retrieves the memories relevant to q and has the answer model answer
// q.Context from them alone. template, when not empty, is the question's prompt with
// a {question} slot. With no relevant memory the model is not called and the answer
// is DontKnow; an answer the model cannot ground is DontKnow too.
func (e *Engine) Answer(ctx context.Context, t Tenant, q Query, template string) (Answer, error) {
	if !e.chat.Has(llm.TaskAnswer) {
		return Answer{}, llm.ErrNoModel
	}
	a := Answer{Model: e.chat.Model(llm.TaskAnswer), Response: DontKnow}
	if q.Threshold == 0 {
		q.Threshold = AnswerFloor
	}
	res, err := e.Retrieve(ctx, t, q)
	if err != nil {
		return a, err
	}
	a.Retrieval = res
	if len(res.Hits) == 0 {
		return a, nil
	}
	var list strings.Builder
	for i, h := range res.Hits {
		fmt.Fprintf(&list, "%d: %s", i, h.Memory.Text)
		if at := refersTo(h.Memory.Metadata); at != "" {
			fmt.Fprintf(&list, " (refers to %s)", at)
		}
		fmt.Fprintf(&list, " [updated %s]\n", h.Memory.UpdatedAt.UTC().Format("2006-01-02"))
	}
	question := "Question: " + q.Context
	if template != "" {
		question = strings.ReplaceAll(template, "{question}", q.Context)
	}
	var reply struct {
		answer   string
		grounded bool
		used     []int
	}
	a.Usage, err = e.chat.CompleteJSON(ctx, llm.TaskAnswer,
		[]llm.Message{{Role: "system", Content: fmt.Sprintf(answerSystem, list.String())}, {Role: "user", Content: question}},
		func(s string) error {
			var err error
			reply.answer, reply.grounded, reply.used, err = parseAnswer(s, len(res.Hits))
			return err
		})
	a.Retrieval.PrefilterTokensSaved = e.prefilterSaved(t, q, res.Hits, a.Usage.Requests)
	if err != nil {
		return a, err
	}
	if !reply.grounded {
		return a, nil
	}
	a.Response, a.Grounded = reply.answer, true
	for _, i := range reply.used {
		a.Hits = append(a.Hits, res.Hits[i])
	}
	return a, nil
}

// parseAnswer decodes and checks an answer: a grounded one must cite memories that
// were given.
func parseAnswer(s string, n int) (string, bool, []int, error) {
	var a struct {
		Answer   *string           `json:"answer"`
		Grounded *bool             `json:"grounded"`
		Memories []json.RawMessage `json:"memories"`
	}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return "", false, nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if a.Grounded == nil {
		return "", false, nil, errors.New(`"grounded" (true or false) is missing`)
	}
	if !*a.Grounded {
		return "", false, nil, nil
	}
	if a.Answer == nil || strings.TrimSpace(*a.Answer) == "" {
		return "", false, nil, errors.New(`a grounded answer needs "answer"`)
	}
	seen := map[int]bool{}
	var used []int
	for _, raw := range a.Memories {
		i, err := strconv.Atoi(strings.Trim(string(raw), `"`))
		if err != nil || i < 0 || i >= n {
			return "", false, nil, fmt.Errorf(`"memories" must list memory numbers from 0 to %d`, n-1)
		}
		if !seen[i] {
			seen[i] = true
			used = append(used, i)
		}
	}
	if len(used) == 0 {
		return "", false, nil, errors.New(`a grounded answer must list in "memories" the memories it rests on`)
	}
	return strings.TrimSpace(*a.Answer), true, used, nil
}

// refersTo is the time a memory's fact refers to, as extraction recorded it.
func refersTo(md json.RawMessage) string {
	if len(md) == 0 {
		return ""
	}
	var m struct {
		RefersTo string `json:"refers_to"`
	}
	_ = json.Unmarshal(md, &m)
	return m.RefersTo
}
