package main

import (
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"memoryd/llm/chattest"
	"memoryd/memory/scriptedmodel"
)

type jobJSON struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Status   string `json:"status"`
	Progress struct {
		Total, Done, Failed int
	} `json:"progress"`
	Result struct {
		Extractor string `json:"extractor"`
		Events    []struct {
			Event    string `json:"event"`
			MemoryID string `json:"memory_id"`
			Text     string `json:"text"`
			Fact     string `json:"fact"`
			Time     string `json:"time"`
		} `json:"events"`
		Created int `json:"memories_created"`
		Updated int `json:"memories_updated"`
		Deleted int `json:"memories_deleted"`
	} `json:"result"`
	Error *struct{ Code, Message string } `json:"error"`
}

// extract starts an extraction job and returns it as accepted.
func (s *server) extract(t *testing.T, key string, body map[string]any) jobJSON {
	t.Helper()
	var out struct {
		Job jobJSON `json:"job"`
	}
	s.ok(t, 202, req{method: "POST", path: "/v1/batch/extract", key: key, body: body}, &out)
	if out.Job.Type != "extract" || out.Job.Status != "queued" {
		t.Fatalf("job = %+v", out.Job)
	}
	return out.Job
}

// waitJob polls a job until done(job) or it has finished.
func (s *server) waitJob(t *testing.T, key, id string, done func(jobJSON) bool) jobJSON {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var j jobJSON
		s.ok(t, 200, req{method: "GET", path: "/v1/batch/" + id, key: key}, &j)
		if (j.Status != "queued" && j.Status != "running") || (done != nil && done(j)) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s: %+v", j.Status, j.Progress)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// userTexts lists a user's memory texts, sorted.
func (s *server) userTexts(t *testing.T, key, userID string) []string {
	t.Helper()
	var out struct {
		Memories []memoryJSON `json:"memories"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/memories?limit=100&user_id=" + url.QueryEscape(userID), key: key}, &out)
	texts := make([]string, len(out.Memories))
	for i, m := range out.Memories {
		texts[i] = m.Text
	}
	slices.Sort(texts)
	return texts
}

func scriptedLLMEnv(srv *chattest.Server) []string {
	return []string{"MEMORYD_LLM_BASE_URL=" + srv.BaseURL(), "MEMORYD_LLM_API_KEY=sk-scripted",
		"MEMORYD_LLM_EXTRACTION_MODEL=" + scriptedmodel.Extraction, "MEMORYD_LLM_UPDATE_MODEL=" + scriptedmodel.Update,
		"MEMORYD_LLM_ANSWER_MODEL=" + scriptedmodel.Answer, "MEMORYD_LLM_RERANK_MODEL=" + scriptedmodel.Rerank}
}

// Without a model: the rule-based extractor, reported in the result; bad bodies are
// refused before any job starts; jobs are the org's own; a finished job cannot be
// canceled; answers need a model.
func TestExtractRulesE2E(t *testing.T) {
	s := startServer(t, "")
	_, key := s.newOrg(t, "rules", "pro")
	s.createMemory(t, key, map[string]any{"text": "I am allergic to peanuts.", "user_id": "u1"})

	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{}, "messages"},
		{map[string]any{"messages": []any{}}, "messages"},
		{map[string]any{"messages": []any{map[string]any{"role": "robot", "content": "x"}}}, "messages[0].role"},
		{map[string]any{"messages": []any{map[string]any{"role": "user", "content": " "}}}, "messages[0].content"},
		{map[string]any{"messages": []any{map[string]any{"role": "user", "content": "x"}}, "user_id": ""}, "user_id"},
		{map[string]any{"messages": []any{map[string]any{"role": "user", "content": "x"}}, "metadata": []int{1}}, "metadata"},
	} {
		d := s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/batch/extract", key: key, body: tc.body})
		if d["field"] != tc.field {
			t.Errorf("body %v: details %v, want field %s", tc.body, d, tc.field)
		}
	}

	job := s.extract(t, key, map[string]any{"user_id": "u1", "metadata": map[string]any{"source": "chat"}, "messages": []any{
		map[string]any{"role": "user", "content": "Hello! I am allergic to peanuts. My daughter Mia starts school in May.", "created_at": "2026-04-02T09:00:00Z"},
		map[string]any{"role": "assistant", "content": "Good to know. I will remember that."},
		map[string]any{"role": "user", "content": "Can you suggest a snack? I prefer savoury food."},
	}})
	j := s.waitJob(t, key, job.ID, nil)
	if j.Status != "succeeded" || j.Result.Extractor != "rules" || j.Progress.Total != 3 || j.Progress.Done != 3 {
		t.Fatalf("job = %+v", j)
	}
	var kinds []string
	for _, ev := range j.Result.Events {
		kinds = append(kinds, ev.Event)
	}
	if !slices.Equal(kinds, []string{"NOOP", "ADD", "ADD"}) || j.Result.Created != 2 {
		t.Fatalf("events = %+v", j.Result.Events)
	}
	want := []string{"I am allergic to peanuts.", "I prefer savoury food.", "My daughter Mia starts school in May."}
	if got := s.userTexts(t, key, "u1"); !slices.Equal(got, want) {
		t.Fatalf("memories = %q", got)
	}
	var added memoryJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + j.Result.Events[1].MemoryID, key: key}, &added)
	if added.Metadata["source"] != "chat" || added.Metadata["refers_to"] != "2026-04-02T09:00:00Z" {
		t.Fatalf("metadata = %v", added.Metadata)
	}
	var hist struct {
		Events []struct {
			Event, Source string
			JobID         *string `json:"job_id"`
		} `json:"events"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + added.ID + "/history", key: key}, &hist)
	if len(hist.Events) != 1 || hist.Events[0].Source != "extract" || hist.Events[0].JobID == nil || *hist.Events[0].JobID != job.ID {
		t.Fatalf("history = %+v", hist)
	}

	if d := s.fails(t, 400, "INVALID_REQUEST", req{method: "DELETE", path: "/v1/batch/" + job.ID, key: key}); d["status"] != "succeeded" {
		t.Fatalf("cancel of a finished job: %v", d)
	}
	s.fails(t, 404, "JOB_NOT_FOUND", req{method: "DELETE", path: "/v1/batch/job_00000000000000000000000000", key: key})
	_, other := s.newOrg(t, "other", "pro")
	s.fails(t, 404, "JOB_NOT_FOUND", req{method: "DELETE", path: "/v1/batch/" + job.ID, key: other})
	s.fails(t, 501, "LLM_NOT_CONFIGURED", req{method: "POST", path: "/v1/query/answer", key: key, body: map[string]any{"context": "What is the user allergic to?"}})
	s.fails(t, 400, "INVALID_REQUEST", req{method: "POST", path: "/v1/query/answer", key: key,
		body: map[string]any{"context": "x", "prompt_template": "no slot"}})
}

// With a model: extraction decides against stored memories; answers come from the
// memories alone and say they do not know when none is relevant; /v1/query re-ranks
// with the small model and says so in model_calls; model tokens are metered.
func TestExtractAnswerAndRerankWithModelE2E(t *testing.T) {
	script := &scriptedmodel.Script{
		Facts: func(string) []scriptedmodel.Fact {
			return []scriptedmodel.Fact{{Text: "User moved from Leeds to Bristol", Time: "2026-10-01"}, {Text: "User has a dog named Biscuit"}}
		},
		Decide: func(fact string) (string, string, string) {
			if strings.Contains(fact, "Bristol") {
				return "UPDATE", "Leeds", "User lives in Bristol"
			}
			return "ADD", "", fact
		},
	}
	srv := scriptedmodel.Start(script)
	defer srv.Close()
	s := startServer(t, "", scriptedLLMEnv(srv)...)
	_, key := s.newOrg(t, "model", "pro")
	s.createMemory(t, key, map[string]any{"text": "User lives in Leeds", "user_id": "u7"})

	rc := newReceiver(t, 0)
	var hook webhookCreated
	s.ok(t, 201, req{method: "POST", path: "/v1/webhooks", key: key,
		body: map[string]any{"url": rc.URL, "events": []string{"memory.created", "memory.updated"}}}, &hook)
	rc.setSecret(hook.Secret)

	job := s.extract(t, key, map[string]any{"user_id": "u7", "messages": []any{
		map[string]any{"role": "user", "content": "We moved to Bristol last month, with our dog Biscuit."}}})
	j := s.waitJob(t, key, job.ID, nil)
	if j.Status != "succeeded" || j.Result.Extractor != "llm" || j.Result.Updated != 1 || j.Result.Created != 1 {
		t.Fatalf("job = %+v", j)
	}
	if got := s.userTexts(t, key, "u7"); !slices.Equal(got, []string{"User has a dog named Biscuit", "User lives in Bristol"}) {
		t.Fatalf("memories = %q", got)
	}
	// The job's changes reach webhooks as the API's do.
	rc.waitHits(t, 2)
	hits, bad := rc.snapshot()
	var events []string
	for _, h := range hits {
		data, _ := h.body["data"].(map[string]any)
		events = append(events, h.event+" "+data["text"].(string))
	}
	slices.Sort(events)
	if bad != 0 || !slices.Equal(events, []string{"memory.created User has a dog named Biscuit", "memory.updated User lives in Bristol"}) {
		t.Fatalf("webhooks: %q (%d badly signed)", events, bad)
	}

	var ans struct {
		Response string    `json:"response"`
		Memories []hitJSON `json:"memories"`
		Model    string    `json:"model"`
		Grounded bool      `json:"grounded"`
	}
	r := s.ok(t, 200, req{method: "POST", path: "/v1/query/answer", key: key,
		body: map[string]any{"context": "Where does the user live?", "user_id": "u7", "prompt_template": "Answer in one line: {question}"}}, &ans)
	if !ans.Grounded || ans.Response != "User lives in Bristol" || len(ans.Memories) != 1 || ans.Model != scriptedmodel.Answer {
		t.Fatalf("answer = %+v", ans)
	}
	if u := r.Env.Meta["usage"].(map[string]any); u["model_calls"] != 1.0 || u["tokens_processed"].(float64) == 0 {
		t.Fatalf("usage = %v", u)
	}
	last := srv.Requests()[len(srv.Requests())-1]
	if last.Prompt() != "Answer in one line: Where does the user live?" {
		t.Fatalf("prompt_template not used: %q", last.Prompt())
	}
	// Memories that do not answer: the model would invent; the answer says it does not know.
	s.ok(t, 200, req{method: "POST", path: "/v1/query/answer", key: key,
		body: map[string]any{"context": "What is the name of the user's sister?", "user_id": "u7"}}, &ans)
	if ans.Grounded || ans.Response != "I don't know: nothing I remember answers that." || len(ans.Memories) != 0 {
		t.Fatalf("answer = %+v", ans)
	}
	// No memory in scope at all: no model call.
	r = s.ok(t, 200, req{method: "POST", path: "/v1/query/answer", key: key,
		body: map[string]any{"context": "Where does the user live?", "user_id": "nobody"}}, &ans)
	if ans.Grounded || len(ans.Memories) != 0 || r.Env.Meta["usage"].(map[string]any)["model_calls"] != 0.0 {
		t.Fatalf("answer = %+v, meta %v", ans, r.Env.Meta)
	}

	var q struct {
		Memories []hitJSON `json:"memories"`
	}
	r = s.ok(t, 200, req{method: "POST", path: "/v1/query", key: key, body: map[string]any{"context": "dog Biscuit", "user_id": "u7", "max_memories": 1}}, &q)
	if len(q.Memories) != 1 || q.Memories[0].Text != "User has a dog named Biscuit" || q.Memories[0].Relevance != 0.6 {
		t.Fatalf("query = %+v", q.Memories)
	}
	if r.Env.Meta["usage"].(map[string]any)["model_calls"] != 1.0 {
		t.Fatalf("meta = %v", r.Env.Meta)
	}
	r = s.ok(t, 200, req{method: "POST", path: "/v1/retrieve", key: key, body: map[string]any{"context": "dog Biscuit", "user_id": "u7"}}, &q)
	if r.Env.Meta["usage"].(map[string]any)["model_calls"] != 0.0 {
		t.Fatalf("retrieve called a model: %v", r.Env.Meta)
	}

	var u usageJSON
	s.ok(t, 200, req{method: "GET", path: "/v1/usage", key: key}, &u)
	// Every request the model got is metered once: 1 extraction + 2 decisions + 2
	// answers (none for the empty scope) + 1 re-rank.
	if n := len(srv.Requests()); n != 6 || u.Usage["model_calls"] != int64(n) || u.Usage["tokens_output"] == 0 {
		t.Fatalf("usage = %v after %d model requests", u.Usage, n)
	}
}

// An extraction job killed with SIGKILL mid-way finishes after the restart without
// applying any fact twice: the memories equal those of an uninterrupted run.
func TestExtractJobSurvivesSIGKILL(t *testing.T) {
	seeds := []string{"User lives in Berlin", "User works as a baker", "User has a cat named Tom", "User likes jazz",
		"User drives a red Volvo", "User drinks coffee every morning"}
	decisions := map[string][3]string{
		"User moved from Berlin to Lisbon": {"UPDATE", "Berlin", "User lives in Lisbon"},
		"User works as a nurse now":        {"UPDATE", "baker", "User works as a nurse"},
		"User no longer has a cat":         {"DELETE", "cat", ""},
		"User likes jazz":                  {"NOOP", "jazz", ""},
		"User enjoys jazz records":         {"NOOP", "jazz", ""},
		"User switched from coffee to tea": {"UPDATE", "coffee", "User drinks tea every morning"},
	}
	adds := []string{"User speaks Portuguese", "User runs marathons", "User has a sister named Ana", "User is vegetarian",
		"User plays the cello", "User grows tomatoes on the balcony", "User reads science fiction", "User is saving for a sailboat",
		"User was born in 1988", "User has a peanut allergy", "User volunteers at a food bank", "User climbs on weekends",
		"User knits scarves", "User collects vinyl records", "User supports FC Porto", "User is learning Japanese"}
	var facts []scriptedmodel.Fact
	for f := range decisions {
		facts = append(facts, scriptedmodel.Fact{Text: f})
	}
	slices.SortFunc(facts, func(a, b scriptedmodel.Fact) int { return strings.Compare(a.Text, b.Text) })
	for _, f := range adds {
		facts = append(facts, scriptedmodel.Fact{Text: f, Time: "2026-01-01"})
		decisions[f] = [3]string{"ADD", "", f}
	}
	// In the run that is killed, the decision on the first added fact (step 7) is held
	// until the kill: the process dies with 6 steps committed and one in flight, however
	// slow the machine.
	var holding atomic.Bool
	hold := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { holding.Store(false); close(hold) }) }
	script := &scriptedmodel.Script{
		Facts:  func(string) []scriptedmodel.Fact { return facts },
		Decide: func(f string) (string, string, string) { d := decisions[f]; return d[0], d[1], d[2] },
		Override: func(n int, r chattest.Request) (chattest.Reply, bool) {
			if r.Model == scriptedmodel.Update && holding.Load() {
				if _, fact := scriptedmodel.ParseUpdate(r.Prompt()); fact == adds[0] {
					<-hold
				}
			}
			return chattest.Reply{}, false
		},
	}
	srv := scriptedmodel.Start(script)
	defer srv.Close()
	defer release() // before the server closes: it waits for the held request
	env := scriptedLLMEnv(srv)
	body := map[string]any{"user_id": "u1", "messages": []any{map[string]any{"role": "user", "content": "Lots of news about me."}}}

	run := func(kill bool) []string {
		data := t.TempDir()
		s := startServer(t, data, env...)
		_, key := s.newOrg(t, "crash", "enterprise")
		for _, text := range seeds {
			s.createMemory(t, key, map[string]any{"text": text, "user_id": "u1"})
		}
		holding.Store(kill)
		job := s.extract(t, key, body)
		if kill {
			j := s.waitJob(t, key, job.ID, func(j jobJSON) bool { return j.Progress.Done >= 6 })
			if j.Status != "running" || j.Progress.Done != 6 {
				t.Fatalf("job not held at step 7 for the kill: %+v", j)
			}
			s.kill()
			release()
			t.Logf("killed at %d of %d facts", j.Progress.Done, j.Progress.Total)
			s = startServer(t, data, env...)
		}
		j := s.waitJob(t, key, job.ID, nil)
		if j.Status != "succeeded" || j.Progress.Done != len(facts) || len(j.Result.Events) != len(facts) {
			t.Fatalf("job = %+v (kill %v)", j, kill)
		}
		for i, ev := range j.Result.Events {
			if ev.Fact != facts[i].Text {
				t.Fatalf("event %d is for %q, want %q: a fact was applied twice or skipped", i, ev.Fact, facts[i].Text)
			}
		}
		if j.Result.Created != len(adds) || j.Result.Updated != 3 || j.Result.Deleted != 1 {
			t.Fatalf("result = %+v", j.Result)
		}
		texts := s.userTexts(t, key, "u1")
		s.stop()
		return texts
	}
	want := run(false)
	got := run(true)
	if !slices.Equal(got, want) {
		t.Fatalf("after SIGKILL and restart the memories are\n%q\nwant (uninterrupted)\n%q", got, want)
	}
	if len(want) != len(seeds)-1+len(adds) || slices.Contains(want, "User lives in Berlin") || !slices.Contains(want, "User lives in Lisbon") {
		t.Fatalf("memories = %q", want)
	}
}
