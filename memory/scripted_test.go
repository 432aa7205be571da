package memory

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"memoryd/llm"
	"memoryd/llm/chattest"
	"memoryd/memory/scriptedmodel"
	"memoryd/store"
)

// newScriptedEngine returns an engine whose chat model is the script, on a store
// of its own, with its job workers running and the usage of its jobs collected.
func newScriptedEngine(t *testing.T, s *scriptedmodel.Script) (*Engine, Tenant, *chattest.Server, *usageLog) {
	t.Helper()
	srv := scriptedmodel.Start(s)
	t.Cleanup(srv.Close)
	chat, err := llm.NewChat(llm.ChatConfig{BaseURL: srv.BaseURL(), APIKey: "sk-test",
		Models: map[llm.Task]string{llm.TaskExtraction: scriptedmodel.Extraction, llm.TaskUpdate: scriptedmodel.Update,
			llm.TaskAnswer: scriptedmodel.Answer, llm.TaskRerank: scriptedmodel.Rerank},
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond,
		Price: func(m string) (float64, float64) { return 1, 4 }})
	if err != nil {
		t.Fatal(err)
	}
	e, tn, ul := newJobEngine(t, chat)
	return e, tn, srv, ul
}

type usageLog struct {
	ch chan store.UsageEvent
}

func (u *usageLog) sum() store.UsageCounters {
	var c store.UsageCounters
	for {
		select {
		case ev := <-u.ch:
			c.Add(&ev)
		default:
			return c
		}
	}
}

// newJobEngine returns an engine (with chat, or none when nil) running its jobs.
func newJobEngine(t *testing.T, chat *llm.Chat) (*Engine, Tenant, *usageLog) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	org, _, _, err := st.CreateOrgWithAdminKey("x", "enterprise")
	if err != nil {
		t.Fatal(err)
	}
	ul := &usageLog{ch: make(chan store.UsageEvent, 10000)}
	e := New(st, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Chat: chat, Workers: 2,
		OnUsage: func(ev store.UsageEvent) { ul.ch <- ev }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.RunJobs(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e, Tenant{OrgID: org.ID, Mode: store.ModeLive}, ul
}

// waitJob polls a job until it has finished.
func waitJob(t *testing.T, e *Engine, tn Tenant, id string) store.Job {
	t.Helper()
	return waitJobFor(t, e, tn, id, 20*time.Second)
}

func waitJobFor(t *testing.T, e *Engine, tn Tenant, id string, limit time.Duration) store.Job {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		j, err := e.Job(tn, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != "queued" && j.Status != "running" {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s", id, j.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// jobResult decodes an extraction job's result.
func jobResult(t *testing.T, j store.Job) (res struct {
	Extractor string         `json:"extractor"`
	Events    []ExtractEvent `json:"events"`
	Created   int            `json:"memories_created"`
	Updated   int            `json:"memories_updated"`
	Deleted   int            `json:"memories_deleted"`
}) {
	t.Helper()
	if err := json.Unmarshal(j.Result, &res); err != nil {
		t.Fatalf("result %s: %v", j.Result, err)
	}
	return res
}

// texts lists the scope's memories' texts.
func texts(t *testing.T, e *Engine, tn Tenant, userID string) []string {
	t.Helper()
	mems, _, err := e.List(tn, store.Scope{UserID: userID}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(mems))
	for i, m := range mems {
		out[i] = m.Text
	}
	return out
}
