package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"memoryd/llm"
	"memoryd/memory/scriptedmodel"
	"memoryd/store"
)

// The scenario suite: dialogues in testdata/dialogues (preference changes, job
// changes, moves, corrections, repeated facts, retractions), each told in sessions
// weeks apart, then checked: the memories after the last session (the new value
// present, the old one gone, nothing duplicated) and questions answered from them,
// some of which nothing in the dialogue answers. Scored in HaluMem's terms: memory
// update accuracy, QA correctness, QA hallucination and QA omission.
//
// With the scripted model (each session's facts and decisions come from the file;
// the engine must find the memory each decision targets, apply it, and retrieve
// the right memories for the answers) every check must pass. With a real model
// (MEMORYD_TEST_LLM_BASE_URL, MEMORYD_TEST_LLM_API_KEY, MEMORYD_TEST_LLM_MODEL) the
// same dialogues run without the scripts and the scores are printed.

type dialogue struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Sessions []struct {
		Messages []ExtractMessage `json:"messages"`
		Script   []struct {
			Fact   string `json:"fact"`
			Event  string `json:"event"`
			Target string `json:"target"`
			Text   string `json:"text"`
		} `json:"script"`
	} `json:"sessions"`
	Checks []struct {
		Present string `json:"present"`
		Absent  string `json:"absent"`
		Max     int    `json:"max"`
	} `json:"checks"`
	Questions []struct {
		Q       string   `json:"q"`
		Answer  []string `json:"answer"`
		Unknown bool     `json:"unknown"`
	} `json:"questions"`
}

func loadDialogues(t *testing.T) []dialogue {
	t.Helper()
	files, err := filepath.Glob("testdata/dialogues/*.json")
	if err != nil || len(files) < 30 {
		t.Fatalf("%d dialogues in testdata/dialogues (%v); the suite needs at least 30", len(files), err)
	}
	var out []dialogue
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dialogue
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

// suiteScore counts outcomes over the suite.
type suiteScore struct {
	checks, checksOK                                 int
	answerable, unknown                              int
	qaCorrect, qaHallucinated, qaOmitted, jobsFailed int
	failures                                         []string
}

func (s *suiteScore) report() string {
	qa := s.answerable + s.unknown
	pct := func(n, of int) float64 {
		if of == 0 {
			return 0
		}
		return 100 * float64(n) / float64(of)
	}
	return fmt.Sprintf("memory update accuracy %.1f%% (%d/%d checks); QA correctness %.1f%%, hallucination %.1f%%, omission %.1f%% (%d questions, %d unanswerable); failed jobs %d",
		pct(s.checksOK, s.checks), s.checksOK, s.checks, pct(s.qaCorrect, qa), pct(s.qaHallucinated, qa), pct(s.qaOmitted, qa),
		qa, s.unknown, s.jobsFailed)
}

// runSuite tells each dialogue to the engine, a session per extraction job, then
// checks its memories and asks its questions. before is called as each dialogue
// starts.
func runSuite(t *testing.T, e *Engine, tn Tenant, ds []dialogue, before func(*dialogue)) *suiteScore {
	ctx := context.Background()
	sc := &suiteScore{}
	for i := range ds {
		d := &ds[i]
		if before != nil {
			before(d)
		}
		user := "dlg-" + d.Name
		for _, sess := range d.Sessions {
			j, err := e.SubmitExtract(tn, "key_suite", ExtractRequest{Messages: sess.Messages, UserID: user, At: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if j = waitJobFor(t, e, tn, j.ID, 5*time.Minute); j.Status != "succeeded" {
				sc.jobsFailed++
				sc.failures = append(sc.failures, fmt.Sprintf("%s: job %s %s: %s", d.Name, j.Status, j.ErrCode, j.ErrMessage))
			}
		}
		mems, _, err := e.List(tn, store.Scope{UserID: user}, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		has := func(m store.Memory, word string) bool {
			return word != "" && strings.Contains(strings.ToLower(m.Text), strings.ToLower(word))
		}
		for _, c := range d.Checks {
			sc.checks++
			present, stale := 0, 0
			for _, m := range mems {
				if has(m, c.Present) {
					present++
				} else if has(m, c.Absent) {
					stale++ // the old value, stated as still true
				}
			}
			ok := (c.Present == "" || present > 0) && (c.Max == 0 || present <= c.Max) && stale == 0
			if ok {
				sc.checksOK++
			} else {
				texts := make([]string, len(mems))
				for i, m := range mems {
					texts[i] = m.Text
				}
				sc.failures = append(sc.failures, fmt.Sprintf("%s: check %+v failed; memories %q", d.Name, c, texts))
			}
		}
		for _, q := range d.Questions {
			a, err := e.Answer(ctx, tn, Query{Context: q.Q, Max: 5, Scope: store.Scope{UserID: user}}, "")
			if err != nil {
				sc.failures = append(sc.failures, fmt.Sprintf("%s: %q: %v", d.Name, q.Q, err))
				continue
			}
			right := false
			for _, w := range q.Answer {
				right = right || strings.Contains(strings.ToLower(a.Response), strings.ToLower(w))
			}
			switch {
			case q.Unknown && !a.Grounded, !q.Unknown && a.Grounded && right:
				sc.qaCorrect++
			case !q.Unknown && !a.Grounded:
				sc.qaOmitted++
			default:
				sc.qaHallucinated++
			}
			if q.Unknown {
				sc.unknown++
			} else {
				sc.answerable++
			}
			if (q.Unknown && a.Grounded) || (!q.Unknown && !(a.Grounded && right)) {
				sc.failures = append(sc.failures, fmt.Sprintf("%s: %q answered %q (grounded %v)", d.Name, q.Q, a.Response, a.Grounded))
			}
		}
	}
	return sc
}

// The suite with the scripted model proves the plumbing: every check and question
// passes only if each decision reached the memory it targets and retrieval handed
// the answer model the right memories.
func TestScenarioSuiteScripted(t *testing.T) {
	ds := loadDialogues(t)
	var mu sync.Mutex
	var cur *dialogue
	script := &scriptedmodel.Script{
		Facts: func(conversation string) []scriptedmodel.Fact {
			mu.Lock()
			defer mu.Unlock()
			for _, s := range cur.Sessions {
				if strings.Contains(conversation, s.Messages[0].Content) {
					var out []scriptedmodel.Fact
					for _, f := range s.Script {
						out = append(out, scriptedmodel.Fact{Text: f.Fact, Time: s.Messages[0].CreatedAt.Format("2006-01-02")})
					}
					return out
				}
			}
			return nil
		},
		Decide: func(fact string) (string, string, string) {
			mu.Lock()
			defer mu.Unlock()
			for _, s := range cur.Sessions {
				for _, f := range s.Script {
					if f.Fact == fact {
						return f.Event, f.Target, f.Text
					}
				}
			}
			return "ADD", "", fact
		},
	}
	e, tn, _, _ := newScriptedEngine(t, script)
	sc := runSuite(t, e, tn, ds, func(d *dialogue) { mu.Lock(); cur = d; mu.Unlock() })
	t.Logf("scripted model, %d dialogues: %s", len(ds), sc.report())
	for _, f := range sc.failures {
		t.Error(f)
	}
	if sc.checks < 30 || sc.answerable < 30 || sc.unknown < 30 {
		t.Fatalf("suite too small: %s", sc.report())
	}
}

// The same dialogues against a real model, without scripts. Run with
//
//	MEMORYD_TEST_LLM_BASE_URL=https://api.openai.com/v1 MEMORYD_TEST_LLM_API_KEY=sk-… \
//	MEMORYD_TEST_LLM_MODEL=gpt-4o-mini go test ./memory -run TestScenarioSuiteRealModel -v -timeout 3h
func TestScenarioSuiteRealModel(t *testing.T) {
	base, key, model := os.Getenv("MEMORYD_TEST_LLM_BASE_URL"), os.Getenv("MEMORYD_TEST_LLM_API_KEY"), os.Getenv("MEMORYD_TEST_LLM_MODEL")
	if base == "" || model == "" {
		t.Skip("set MEMORYD_TEST_LLM_BASE_URL, MEMORYD_TEST_LLM_API_KEY and MEMORYD_TEST_LLM_MODEL to run the suite against a real model")
	}
	chat, err := llm.NewChat(llm.ChatConfig{BaseURL: base, APIKey: key, PlainJSON: os.Getenv("MEMORYD_TEST_LLM_PLAIN_JSON") != "",
		Models: map[llm.Task]string{llm.TaskExtraction: model, llm.TaskUpdate: model, llm.TaskAnswer: model}})
	if err != nil {
		t.Fatal(err)
	}
	e, tn, ul := newJobEngine(t, chat)
	ds := loadDialogues(t)
	began := time.Now()
	sc := runSuite(t, e, tn, ds, nil)
	u := ul.sum()
	t.Logf("model %s, %d dialogues in %v: %s; extraction used %d model calls, %d tokens in, %d out",
		model, len(ds), time.Since(began).Round(time.Second), sc.report(), u.ModelCalls, u.TokensIn, u.TokensOut)
	for _, f := range sc.failures {
		t.Log(f)
	}
}
