// Package scriptedmodel stands in for the chat model of memoryd's tests. It reads
// the engine's prompts as a model would (the conversation, the numbered memories,
// the new fact, the question) and answers from a script: the facts of a dialogue
// and the decision for each fact, whose target memory it must find among those it
// was given. Answers and re-ranking use word overlap with the memories given, so
// they come out right only when retrieval handed the right memories over.
//
// The task of a request is told by its model name: configure the engine with the
// model names below.
package scriptedmodel

import (
	"encoding/json"
	"fmt"
	"strings"

	"memoryd/index"
	"memoryd/llm/chattest"
)

// The model names of each task.
const (
	Extraction = "scripted-extraction"
	Update     = "scripted-update"
	Answer     = "scripted-answer"
	Rerank     = "scripted-rerank"
)

// Fact is an extracted fact as the model answers it.
type Fact struct {
	Text string `json:"text"`
	Time string `json:"time,omitempty"`
}

// Script is the model's knowledge.
type Script struct {
	// Facts answers an extraction request for a conversation (its prompt).
	Facts func(conversation string) []Fact
	// Decide gives a fact's decision: the event, a word of the memory it targets
	// (UPDATE, DELETE, NOOP), and the text to store (ADD, UPDATE).
	Decide func(fact string) (event, target, text string)
	// Override, when set, answers request n instead when it returns true
	// (failures, malformed JSON, delays).
	Override func(n int, req chattest.Request) (chattest.Reply, bool)
}

// Start runs the stand-in; close it when done.
func Start(s *Script) *chattest.Server { return chattest.New(s.Handle) }

// Handle answers request n: the override's answer, else the script's.
func (s *Script) Handle(n int, req chattest.Request) chattest.Reply {
	if s.Override != nil {
		if rep, ok := s.Override(n, req); ok {
			return rep
		}
	}
	return s.Reply(req)
}

// Reply is the script's answer to a request.
func (s *Script) Reply(req chattest.Request) chattest.Reply {
	prompt := req.Prompt()
	switch req.Model {
	case Extraction:
		facts := s.Facts(prompt)
		if facts == nil {
			facts = []Fact{}
		}
		return jsonReply(map[string]any{"facts": facts})
	case Update:
		mems, fact := ParseUpdate(prompt)
		event, target, text := s.Decide(fact)
		at := -1
		for i, m := range mems {
			if target != "" && strings.Contains(strings.ToLower(m), strings.ToLower(target)) {
				at = i
				break
			}
		}
		if event != "ADD" && at < 0 {
			// The memory to change was not among those given: a model would add.
			event, text = "ADD", fact
		}
		ans := map[string]any{"event": event, "memory": nil, "text": nil}
		if event != "ADD" {
			ans["memory"] = at
		}
		if text != "" {
			ans["text"] = text
		}
		return jsonReply(ans)
	case Answer:
		mems := Numbered(req.System())
		best := bestOverlap(prompt, mems)
		if best < 0 {
			// It would invent an answer; the engine must not show it.
			return jsonReply(map[string]any{"answer": "The user's dog is called Rex.", "grounded": false, "memories": []int{}})
		}
		return jsonReply(map[string]any{"answer": mems[best], "grounded": true, "memories": []int{best}})
	case Rerank:
		query, _, _ := strings.Cut(prompt, "\n")
		q := terms(query)
		mems := Numbered(prompt)
		scores := make([]int, len(mems))
		for i, m := range mems {
			for t := range terms(m) {
				if q[t] {
					scores[i] = min(10, scores[i]+3)
				}
			}
		}
		return jsonReply(map[string]any{"scores": scores})
	}
	return chattest.Reply{Status: 400}
}

func jsonReply(v any) chattest.Reply {
	raw, _ := json.Marshal(v)
	return chattest.Reply{Content: string(raw)}
}

// bestOverlap is the memory sharing the most words with the question (the word
// "user" aside), or -1 when none shares any.
func bestOverlap(question string, mems []string) int {
	q := terms(question)
	delete(q, "user")
	best, bestN := -1, 0
	for i, m := range mems {
		n := 0
		for t := range terms(m) {
			if q[t] {
				n++
			}
		}
		if n > bestN {
			best, bestN = i, n
		}
	}
	return best
}

func terms(s string) map[string]bool {
	set := map[string]bool{}
	for _, t := range index.Tokenize(s) {
		set[t] = true
	}
	return set
}

// Numbered returns the texts of a prompt's "N: text" lines, in order, without the
// notes the engine adds after a memory.
func Numbered(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		num, text, ok := strings.Cut(line, ": ")
		if !ok || num != fmt.Sprint(len(out)) {
			continue
		}
		for _, note := range []string{" (refers to ", " [updated "} {
			if i := strings.Index(text, note); i >= 0 {
				text = text[:i]
			}
		}
		out = append(out, text)
	}
	return out
}

// ParseUpdate reads the memories and the new fact of an update request.
func ParseUpdate(s string) ([]string, string) {
	mems := Numbered(s)
	line := s[strings.LastIndex(s, "\nNew fact")+1:]
	if j := strings.Index(line, "): "); strings.HasPrefix(line, "New fact (") && j >= 0 {
		return mems, line[j+3:]
	}
	return mems, strings.TrimPrefix(line, "New fact: ")
}
