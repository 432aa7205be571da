package memory

import (
	"context"
	"errors"
	"testing"

	"memoryd/llm"
	"memoryd/llm/chattest"
	"memoryd/memory/scriptedmodel"
	"memoryd/store"
)

// An answer rests on memories or says it does not know, in fixed words: with no
// memory in scope the model is not asked; an ungrounded answer of the model never
// reaches the caller; a "grounded" answer citing no memory is refused.
func TestAnswerNeverInvents(t *testing.T) {
	claim := ""
	s := &scriptedmodel.Script{Override: func(n int, req chattest.Request) (chattest.Reply, bool) {
		if claim != "" && req.Model == scriptedmodel.Answer {
			return chattest.Reply{Content: claim}, true
		}
		return chattest.Reply{}, false
	}}
	e, tn, srv, _ := newScriptedEngine(t, s)
	ctx := context.Background()
	q := func(text, user string) Query { return Query{Context: text, Max: 5, Scope: store.Scope{UserID: user}} }

	a, err := e.Answer(ctx, tn, q("Where does the user live?", "u1"), "")
	if err != nil || a.Grounded || a.Response != DontKnow || len(a.Hits) != 0 || len(srv.Requests()) != 0 {
		t.Fatalf("empty scope: %+v, %v, %d model requests", a, err, len(srv.Requests()))
	}
	seed(t, e, tn, "User lives in Porto", "User has a cat named Tom")

	a, err = e.Answer(ctx, tn, q("Where does the user live?", "u1"), "Short answer please: {question}")
	if err != nil || !a.Grounded || a.Response != "User lives in Porto" || len(a.Hits) != 1 || a.Hits[0].Memory.Text != "User lives in Porto" {
		t.Fatalf("grounded: %+v, %v", a, err)
	}
	if p := srv.Requests()[0].Prompt(); p != "Short answer please: Where does the user live?" {
		t.Fatalf("prompt = %q", p)
	}
	// The script answers "grounded": false with an invented name here.
	a, err = e.Answer(ctx, tn, q("What is the name of the user's dentist?", "u1"), "")
	if err != nil || a.Grounded || a.Response != DontKnow || len(a.Hits) != 0 {
		t.Fatalf("ungrounded: %+v, %v", a, err)
	}
	claim = `{"answer": "Dr. Rex", "grounded": true, "memories": []}`
	if a, err = e.Answer(ctx, tn, q("Who is the cat's vet?", "u1"), ""); !errors.Is(err, llm.ErrInvalidOutput) || a.Grounded {
		t.Fatalf("grounded without a memory: %+v, %v", a, err)
	}
	// Without an answer model there is no answer.
	bare, tn2, _ := newJobEngine(t, nil)
	if _, err := bare.Answer(ctx, tn2, q("x", "u1"), ""); !errors.Is(err, llm.ErrNoModel) {
		t.Fatalf("err = %v", err)
	}
}
