package memory

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"memoryd/llm/chattest"
	"memoryd/memory/scriptedmodel"
	"memoryd/store"
)

// seed stores memories for user u1 as the API would.
func seed(t *testing.T, e *Engine, tn Tenant, texts ...string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, text := range texts {
		mems, err := e.Create(context.Background(), tn, []NewMemory{{Text: text, UserID: "u1"}}, store.Change{Source: "api"})
		if err != nil {
			t.Fatal(err)
		}
		ids[text] = mems[0].ID
	}
	return ids
}

func submit(t *testing.T, e *Engine, tn Tenant, contents ...string) store.Job {
	t.Helper()
	req := ExtractRequest{UserID: "u1", At: time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)}
	for i, c := range contents {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		req.Messages = append(req.Messages, ExtractMessage{Role: role, Content: c})
	}
	j, err := e.SubmitExtract(tn, "key_test", req)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// fixedScript extracts the given facts from any conversation and decides each by
// the table.
func fixedScript(facts []string, decisions map[string][3]string) *scriptedmodel.Script {
	return &scriptedmodel.Script{
		Facts: func(string) []scriptedmodel.Fact {
			out := make([]scriptedmodel.Fact, len(facts))
			for i, f := range facts {
				out[i] = scriptedmodel.Fact{Text: f, Time: "2026-11-01"}
			}
			return out
		},
		Decide: func(fact string) (string, string, string) { d := decisions[fact]; return d[0], d[1], d[2] },
	}
}

// Each decision kind is applied to the right memory, recorded in the job's events
// and in the memory's history with source extract and the job id.
func TestExtractAppliesEachDecisionKind(t *testing.T) {
	s := fixedScript(
		[]string{"User moved from Berlin to Lisbon", "User no longer has a cat", "User likes sushi a lot", "User works as a nurse"},
		map[string][3]string{
			"User moved from Berlin to Lisbon": {"UPDATE", "Berlin", "User lives in Lisbon"},
			"User no longer has a cat":         {"DELETE", "cat", ""},
			"User likes sushi a lot":           {"NOOP", "sushi", ""},
			"User works as a nurse":            {"ADD", "", "User works as a nurse"},
		})
	e, tn, srv, _ := newScriptedEngine(t, s)
	ids := seed(t, e, tn, "User lives in Berlin", "User has a cat named Tom", "User likes sushi")

	j := waitJob(t, e, tn, submit(t, e, tn, "I moved to Lisbon. Sadly our cat died. I love sushi. I'm a nurse now.").ID)
	if j.Status != "succeeded" || j.Total != 4 || j.Done != 4 || j.Failed != 0 {
		t.Fatalf("job = %s", showJob(j))
	}
	res := jobResult(t, j)
	kinds := []string{}
	for _, ev := range res.Events {
		kinds = append(kinds, ev.Event)
	}
	if res.Extractor != "llm" || !slices.Equal(kinds, []string{"UPDATE", "DELETE", "NOOP", "ADD"}) ||
		res.Created != 1 || res.Updated != 1 || res.Deleted != 1 {
		t.Fatalf("result = %+v", res)
	}
	got := texts(t, e, tn, "u1")
	slices.Sort(got)
	if want := []string{"User likes sushi", "User lives in Lisbon", "User works as a nurse"}; !slices.Equal(got, want) {
		t.Fatalf("memories = %q, want %q", got, want)
	}
	// The update kept the old text in history; both carry the job.
	h, err := e.History(tn, ids["User lives in Berlin"])
	if err != nil || len(h) != 2 || h[1].Event != "UPDATE" || h[1].Source != "extract" || h[1].JobID != j.ID ||
		h[1].PreviousText == nil || *h[1].PreviousText != "User lives in Berlin" || h[1].Text != "User lives in Lisbon" {
		t.Fatalf("history = %+v, %v", h, err)
	}
	h, err = e.History(tn, ids["User has a cat named Tom"])
	if err != nil || len(h) != 2 || h[1].Event != "DELETE" || h[1].Source != "extract" || h[1].JobID != j.ID {
		t.Fatalf("history of the deleted memory = %+v, %v", h, err)
	}
	if res.Events[0].MemoryID != ids["User lives in Berlin"] || *res.Events[0].PreviousText != "User lives in Berlin" ||
		res.Events[0].Time != "2026-11-01" {
		t.Fatalf("update event = %+v", res.Events[0])
	}
	added, err := e.Get(tn, res.Events[3].MemoryID)
	if err != nil || string(added.Metadata) != `{"refers_to":"2026-11-01"}` || added.UserID != "u1" {
		t.Fatalf("added memory = %+v, %v", added, err)
	}
	// The updated memory is found by its new text, not its old.
	r, err := e.Retrieve(context.Background(), tn, Query{Context: "Lisbon", Max: 1, Scope: store.Scope{UserID: "u1"}})
	if err != nil || len(r.Hits) != 1 || r.Hits[0].Memory.Text != "User lives in Lisbon" {
		t.Fatalf("retrieve = %+v, %v", r.Hits, err)
	}
	// Extraction went to the large model, decisions to the small one; the NOOP of an
	// exact duplicate and the ADD with no candidate need no call, but these had both.
	models := map[string]int{}
	for _, q := range srv.Requests() {
		models[q.Model]++
	}
	if models[scriptedmodel.Extraction] != 1 || models[scriptedmodel.Update] != 4 {
		t.Fatalf("requests by model = %v", models)
	}
}

// A malformed answer is repaired by one more request; an answer still malformed
// after it fails that fact's step visibly (FAILED event, progress.failed, job failed)
// and the other facts are applied.
func TestExtractMalformedJSONRepairedOnceThenStepFails(t *testing.T) {
	s := fixedScript([]string{"User plays chess", "User plays the violin", "User drinks green tea"},
		map[string][3]string{
			"User plays chess":      {"ADD", "", "User plays chess"},
			"User plays the violin": {"ADD", "", "User plays the violin"},
			"User drinks green tea": {"ADD", "", "User drinks green tea"},
		})
	var calls atomic.Int64
	s.Override = func(n int, req chattest.Request) (chattest.Reply, bool) {
		if req.Model != scriptedmodel.Update {
			return chattest.Reply{}, false
		}
		fact := req.Prompt()[strings.LastIndex(req.Prompt(), ": ")+2:]
		repair := len(req.Messages) > 2
		switch {
		case fact == "User plays the violin" && !repair:
			calls.Add(1)
			return chattest.Reply{Content: `{"event": "ADD", "text": "User plays the violin"`}, true // cut off
		case fact == "User drinks green tea":
			calls.Add(1)
			return chattest.Reply{Content: `{"event": "MERGE"}`}, true // wrong twice
		}
		return chattest.Reply{}, false
	}
	e, tn, srv, _ := newScriptedEngine(t, s)
	seed(t, e, tn, "User has a garden")

	j := waitJob(t, e, tn, submit(t, e, tn, "I play chess and the violin, and I drink green tea.").ID)
	if j.Status != "failed" || j.ErrCode != "MODEL_OUTPUT_INVALID" || j.Done != 2 || j.Failed != 1 || j.Total != 3 {
		t.Fatalf("job = %s", showJob(j))
	}
	res := jobResult(t, j)
	if len(res.Events) != 3 || res.Events[1].Event != "ADD" || res.Events[1].Text != "User plays the violin" ||
		res.Events[2].Event != "FAILED" || res.Events[2].Fact != "User drinks green tea" || !strings.Contains(res.Events[2].Reason, "MERGE") {
		t.Fatalf("events = %+v", res.Events)
	}
	got := texts(t, e, tn, "u1")
	slices.Sort(got)
	if want := []string{"User has a garden", "User plays chess", "User plays the violin"}; !slices.Equal(got, want) {
		t.Fatalf("memories = %q", got)
	}
	// violin: 1 + 1 repair; tea: 1 + 1 repair, no third.
	teaCalls := 0
	for _, q := range srv.Requests() {
		if strings.HasSuffix(q.Prompt(), "green tea") {
			teaCalls++
		}
	}
	if calls.Load() != 3 || teaCalls != 2 {
		t.Fatalf("malformed answers served %d, requests about tea %d", calls.Load(), teaCalls)
	}
}

// 429 and 500 from the provider are retried; the job succeeds.
func TestExtractRetries429And500(t *testing.T) {
	s := fixedScript([]string{"User lives in Oslo"}, map[string][3]string{"User lives in Oslo": {"ADD", "", "User lives in Oslo"}})
	s.Override = func(n int, req chattest.Request) (chattest.Reply, bool) {
		switch n {
		case 0:
			return chattest.Reply{Status: http.StatusTooManyRequests, RetryAfter: "0"}, true
		case 1:
			return chattest.Reply{Status: http.StatusInternalServerError}, true
		}
		return chattest.Reply{}, false
	}
	e, tn, srv, _ := newScriptedEngine(t, s)
	j := waitJob(t, e, tn, submit(t, e, tn, "I live in Oslo.").ID)
	if j.Status != "succeeded" || j.Done != 1 || len(srv.Requests()) != 3 {
		t.Fatalf("job = %+v after %d requests", j, len(srv.Requests()))
	}
	// A provider that stays down fails the job with UPSTREAM_ERROR, nothing applied.
	s.Override = func(int, chattest.Request) (chattest.Reply, bool) {
		return chattest.Reply{Status: http.StatusServiceUnavailable}, true
	}
	j = waitJob(t, e, tn, submit(t, e, tn, "I live in Bergen.").ID)
	if j.Status != "failed" || j.ErrCode != "UPSTREAM_ERROR" {
		t.Fatalf("job = %s", showJob(j))
	}
	if got := texts(t, e, tn, "u1"); len(got) != 1 {
		t.Fatalf("memories = %q", got)
	}
}

// The provider's token counts are metered with the job: tokens in and out, model
// calls, and their cost from the price table.
func TestExtractUsageTokensRecorded(t *testing.T) {
	s := fixedScript([]string{"User is vegetarian", "User has two sons"}, map[string][3]string{
		"User is vegetarian": {"ADD", "", "User is vegetarian"},
		"User has two sons":  {"ADD", "", "User has two sons"},
	})
	s.Override = func(n int, req chattest.Request) (chattest.Reply, bool) {
		rep := s.Reply(req)
		rep.PromptTokens, rep.CompletionTokens = 300, 40
		return rep, true
	}
	e, tn, srv, ul := newScriptedEngine(t, s)
	seed(t, e, tn, "User has a bike")
	j := waitJob(t, e, tn, submit(t, e, tn, "I'm vegetarian and I have two sons.").ID)
	if j.Status != "succeeded" {
		t.Fatalf("job = %s", showJob(j))
	}
	n := int64(len(srv.Requests()))
	c := ul.sum()
	// 1 extraction + 2 decisions, each 300 in and 40 out, priced $1/M in and $4/M out.
	if n != 3 || c.ModelCalls != n || c.TokensIn != 300*n || c.TokensOut != 40*n || c.CostMicros != (300+160)*n ||
		c.MemoriesWritten != 2 || c.APICalls != 0 {
		t.Fatalf("%d requests; usage = %+v", n, c)
	}
}

// Without a model: user sentences that state facts are kept, greetings, questions
// and the assistant's turns dropped; near-duplicates of stored memories are NOOPs.
func TestExtractRulesWithoutModel(t *testing.T) {
	e, tn, _ := newJobEngine(t, nil)
	seed(t, e, tn, "I love hiking in the Alps.")
	j := waitJob(t, e, tn, submit(t, e, tn,
		"Hi there! I love hiking in the Alps! My sister lives in Vienna. What should I pack?",
		"You should pack layers. I love hiking too.",
		"Thanks. I work as a pharmacist.\nPlease remind me tomorrow.").ID)
	if j.Status != "succeeded" {
		t.Fatalf("job = %s", showJob(j))
	}
	res := jobResult(t, j)
	var got []string
	for _, ev := range res.Events {
		got = append(got, ev.Event+" "+ev.Fact)
	}
	want := []string{"NOOP I love hiking in the Alps.", "ADD My sister lives in Vienna.", "ADD I work as a pharmacist."}
	if res.Extractor != "rules" || !slices.Equal(got, want) {
		t.Fatalf("extractor %q, events %q", res.Extractor, got)
	}
	if n := len(texts(t, e, tn, "u1")); n != 3 {
		t.Fatalf("%d memories", n)
	}
}

// A canceled job stops; the steps it committed stay, no later step is applied.
func TestExtractCancel(t *testing.T) {
	release := make(chan struct{})
	s := fixedScript([]string{"User owns a kayak", "User owns a canoe"}, map[string][3]string{
		"User owns a kayak": {"ADD", "", "User owns a kayak"},
		"User owns a canoe": {"ADD", "", "User owns a canoe"},
	})
	s.Override = func(n int, req chattest.Request) (chattest.Reply, bool) {
		if req.Model == scriptedmodel.Update && strings.HasSuffix(req.Prompt(), "canoe") {
			<-release
		}
		return chattest.Reply{}, false
	}
	e, tn, _, _ := newScriptedEngine(t, s)
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	seed(t, e, tn, "User owns a bike")
	j := submit(t, e, tn, "I own a kayak and a canoe.")
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, _ := e.Job(tn, j.ID)
		if cur.Done == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job = %+v", cur)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c, err := e.CancelJob(tn, j.ID)
	if err != nil || c.Status != "canceled" || c.FinishedAt == nil {
		t.Fatalf("cancel = %+v, %v", c, err)
	}
	// The canoe's decision was in flight: let the model answer it now, and wait until
	// the worker has let go of the job. The answer must not be applied.
	free()
	for {
		if _, running := e.jobs.running.Load(j.ID); !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the canceled job's worker did not stop")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if cur, _ := e.Job(tn, j.ID); cur.Status != "canceled" || cur.Done != 1 {
		t.Fatalf("after cancel: %s", showJob(cur))
	}
	got := texts(t, e, tn, "u1")
	slices.Sort(got)
	if want := []string{"User owns a bike", "User owns a kayak"}; !slices.Equal(got, want) {
		t.Fatalf("memories = %q", got)
	}
	if _, err := e.CancelJob(tn, "job_00000000000000000000000000"); err != ErrJobNotFound {
		t.Fatalf("err = %v", err)
	}
}

func showJob(j store.Job) string {
	return fmt.Sprintf("%s status=%s total=%d done=%d failed=%d error=%s/%s result=%s", j.ID, j.Status, j.Total, j.Done, j.Failed, j.ErrCode, j.ErrMessage, j.Result)
}

// A plan's cap on stored memories stops the job at the first ADD past it, visibly;
// what came before stays applied.
func TestExtractStopsAtStoredQuota(t *testing.T) {
	e, tn, _ := newJobEngine(t, nil)
	seed(t, e, tn, "I keep bees.")
	j, err := e.SubmitExtract(tn, "key_test", ExtractRequest{UserID: "u1", At: time.Now(), MaxStored: 2, Messages: []ExtractMessage{
		{Role: "user", Content: "I keep bees. I speak Welsh. I own a tandem bicycle. I bake sourdough bread."}}})
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, e, tn, j.ID)
	res := jobResult(t, j)
	if j.Status != "failed" || j.ErrCode != "QUOTA_EXCEEDED" || j.Done != 2 || len(res.Events) != 2 ||
		res.Events[0].Event != "NOOP" || res.Events[1].Event != "ADD" {
		t.Fatalf("job = %s", showJob(j))
	}
	if n := len(texts(t, e, tn, "u1")); n != 2 {
		t.Fatalf("%d memories stored under a cap of 2", n)
	}
}

// Two jobs telling the same new fact about one user at once add it once: steps of
// jobs writing to one scope take turns, so the second sees the first's memory.
func TestExtractConcurrentJobsAddOnce(t *testing.T) {
	s := fixedScript([]string{"User likes oolong tea"}, map[string][3]string{"User likes oolong tea": {"ADD", "", "User likes oolong tea"}})
	s.Override = func(n int, req chattest.Request) (chattest.Reply, bool) {
		if req.Model != scriptedmodel.Update {
			return chattest.Reply{}, false
		}
		rep := s.Reply(req)
		rep.Delay = 150 * time.Millisecond // both jobs would decide before either commits
		return rep, true
	}
	e, tn, _, _ := newScriptedEngine(t, s)
	seed(t, e, tn, "User drinks coffee")
	a, b := submit(t, e, tn, "I like oolong tea."), submit(t, e, tn, "Oolong tea is my favourite, I like it.")
	ja, jb := waitJob(t, e, tn, a.ID), waitJob(t, e, tn, b.ID)
	if ja.Status != "succeeded" || jb.Status != "succeeded" {
		t.Fatalf("jobs: %s; %s", showJob(ja), showJob(jb))
	}
	events := []string{jobResult(t, ja).Events[0].Event, jobResult(t, jb).Events[0].Event}
	slices.Sort(events)
	if !slices.Equal(events, []string{"ADD", "NOOP"}) {
		t.Fatalf("events = %q", events)
	}
	if got := texts(t, e, tn, "u1"); len(got) != 2 {
		t.Fatalf("memories = %q", got)
	}
}
