package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"memoryd/llm"
	"memoryd/store"
)

// extractWindow is how many messages one extraction request reads.
const extractWindow = 40

const extractSystem = `You extract durable facts about the user from a conversation, for the user's long-term memory.
Answer with a JSON object {"facts": [{"text": "...", "time": "..."}]}.
- One self-contained fact per item, in the third person, starting with "User" (e.g. "User lives in Lisbon").
- Only what the user states or confirms about themselves: identity, home, work, relationships, pets, health, preferences, habits, plans, possessions. Never the assistant's suggestions, greetings, questions, or small talk.
- When the user says something changed, state the new fact and the change (e.g. "User moved from Berlin to Lisbon").
- When the user says something no longer holds, say so (e.g. "User no longer owns a car").
- When the user corrects something said earlier, state the corrected fact only.
- "time": when the fact became true or happened, resolved against the message times (e.g. "last week" becomes a date), as ISO 8601 (2026-11-05 or 2026-11-05T17:40:03Z); null when unknown.
- Nothing to remember: {"facts": []}.`

const updateSystem = `You keep a user's memory store current. You get existing memories, numbered, and one new fact. Decide one operation:
- ADD: the fact is new information that no memory holds.
- UPDATE: the fact changes, corrects or refines one memory (e.g. a new city, job, preference); give that memory's full new text, keeping what still holds. Prefer UPDATE over DELETE whenever the fact states a new value.
- DELETE: the fact says a memory no longer holds and gives nothing new to store instead.
- NOOP: a memory already says this.
Answer with a JSON object {"event": "ADD" | "UPDATE" | "DELETE" | "NOOP", "memory": <the memory's number for UPDATE, DELETE and NOOP, else null>, "text": "<the text to store for ADD and UPDATE, else null>"}.`

// llmFacts asks the extraction model for the dialogue's facts, a window of messages
// at a time.
func (e *Engine) llmFacts(ctx context.Context, req ExtractRequest) ([]Fact, llm.ChatUsage, error) {
	var facts []Fact
	var usage llm.ChatUsage
	seen := map[string]bool{}
	for start := 0; start < len(req.Messages); start += extractWindow {
		window := req.Messages[start:min(start+extractWindow, len(req.Messages))]
		var b strings.Builder
		fmt.Fprintf(&b, "Conversation (time of each message in brackets):\n")
		for _, m := range window {
			fmt.Fprintf(&b, "[%s] %s: %s\n", messageTime(&req, m).Format(time.RFC3339), m.Role, m.Content)
		}
		var got []Fact
		u, err := e.chat.CompleteJSON(ctx, llm.TaskExtraction,
			[]llm.Message{{Role: "system", Content: extractSystem}, {Role: "user", Content: b.String()}},
			func(s string) error { var err error; got, err = parseFacts(s); return err })
		usage = usage.Add(u)
		if err != nil {
			return nil, usage, err
		}
		for _, f := range got {
			if key := normalizedText(f.Text); !seen[key] {
				seen[key] = true
				facts = append(facts, f)
			}
		}
	}
	return facts, usage, nil
}

// parseFacts decodes and checks an extraction answer.
func parseFacts(s string) ([]Fact, error) {
	var a struct {
		Facts *[]struct {
			Text *string `json:"text"`
			Time *string `json:"time"`
		} `json:"facts"`
	}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if a.Facts == nil {
		return nil, errors.New(`the object has no "facts" array`)
	}
	out := make([]Fact, 0, len(*a.Facts))
	for i, f := range *a.Facts {
		if f.Text == nil || strings.TrimSpace(*f.Text) == "" {
			return nil, fmt.Errorf("facts[%d] has no text", i)
		}
		text := strings.TrimSpace(*f.Text)
		if len(text) > 2000 {
			return nil, fmt.Errorf("facts[%d].text is longer than 2000 bytes", i)
		}
		at := ""
		if f.Time != nil && *f.Time != "" && !strings.EqualFold(*f.Time, "null") {
			if !validTime(*f.Time) {
				return nil, fmt.Errorf("facts[%d].time %q is not an ISO 8601 date or time", i, *f.Time)
			}
			at = *f.Time
		}
		out = append(out, Fact{Text: text, Time: at})
	}
	return out, nil
}

func validTime(s string) bool {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02", "2006-01", "2006"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

// llmDecide asks the update model what the fact does to the candidates. With no
// candidate there is nothing to decide (ADD), and an exact duplicate is a NOOP: no
// model call is spent on either.
func (e *Engine) llmDecide(ctx context.Context, f Fact, cands []store.Memory) (decision, llm.ChatUsage, error) {
	if len(cands) == 0 {
		return decision{event: "ADD", text: f.Text}, llm.ChatUsage{}, nil
	}
	norm := normalizedText(f.Text)
	for i := range cands {
		if normalizedText(cands[i].Text) == norm {
			return decision{event: "NOOP", target: &cands[i]}, llm.ChatUsage{}, nil
		}
	}
	var b strings.Builder
	b.WriteString("Existing memories:\n")
	for i, m := range cands {
		fmt.Fprintf(&b, "%d: %s\n", i, m.Text)
	}
	when := ""
	if f.Time != "" {
		when = " (refers to " + f.Time + ")"
	}
	fmt.Fprintf(&b, "\nNew fact%s: %s", when, f.Text)
	var d decision
	u, err := e.chat.CompleteJSON(ctx, llm.TaskUpdate,
		[]llm.Message{{Role: "system", Content: updateSystem}, {Role: "user", Content: b.String()}},
		func(s string) error { var err error; d, err = parseDecision(s, f, cands); return err })
	return d, u, err
}

// parseDecision decodes and checks an update decision.
func parseDecision(s string, f Fact, cands []store.Memory) (decision, error) {
	var a struct {
		Event  string          `json:"event"`
		Memory json.RawMessage `json:"memory"`
		Text   *string         `json:"text"`
	}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return decision{}, fmt.Errorf("not a JSON object: %v", err)
	}
	d := decision{event: strings.ToUpper(strings.TrimSpace(a.Event))}
	if a.Text != nil {
		d.text = strings.TrimSpace(*a.Text)
	}
	switch d.event {
	case "ADD":
		if d.text == "" {
			d.text = f.Text
		}
		return d, nil
	case "UPDATE", "DELETE", "NOOP":
	default:
		return decision{}, fmt.Errorf(`"event" is %q; it must be ADD, UPDATE, DELETE or NOOP`, a.Event)
	}
	// The memory's number, as a number or a numeric string.
	ref := strings.Trim(string(a.Memory), `"`)
	n, err := strconv.Atoi(ref)
	if err != nil || n < 0 || n >= len(cands) {
		return decision{}, fmt.Errorf(`"memory" must be the number (0 to %d) of the memory to %s`, len(cands)-1, strings.ToLower(d.event))
	}
	d.target = &cands[n]
	if d.event == "UPDATE" && d.text == "" {
		return decision{}, errors.New(`an UPDATE needs "text", the memory's new text`)
	}
	if d.event == "UPDATE" && normalizedText(d.text) == normalizedText(d.target.Text) {
		d.event = "NOOP" // an update to the same words changes nothing
	}
	if len(d.text) > 2000 {
		return decision{}, errors.New(`"text" is longer than 2000 bytes`)
	}
	return d, nil
}
