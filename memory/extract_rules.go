package memory

import (
	"strings"
	"unicode"

	"memoryd/index"
	"memoryd/store"
)

// The rule-based extractor, used when no language model is configured: sentences
// of the user's turns that state something about the user are facts; greetings,
// questions, requests and small talk are dropped. Its only decisions are ADD and, for
// a near-duplicate of an existing memory, NOOP: without a model it cannot tell a
// change from a new fact, so it never updates or deletes.

// ruleFacts returns the fact-stating sentences of the user's messages, each with
// its message's time.
func ruleFacts(req ExtractRequest) []Fact {
	var facts []Fact
	seen := map[string]bool{}
	for _, m := range req.Messages {
		if m.Role != "user" {
			continue
		}
		at := messageTime(&req, m).Format("2006-01-02T15:04:05Z07:00")
		for _, s := range sentences(m.Content) {
			if !statesFact(s) {
				continue
			}
			text := strings.TrimRight(s, ".!;:, ") + "."
			if key := normalizedText(text); !seen[key] {
				seen[key] = true
				facts = append(facts, Fact{Text: text, Time: at})
			}
		}
	}
	return facts
}

// sentences splits text at sentence ends and line breaks, keeping each end mark.
func sentences(text string) []string {
	var out []string
	start := 0
	flush := func(end int) {
		if s := strings.TrimSpace(text[start:end]); s != "" {
			out = append(out, s)
		}
		start = end
	}
	for i, r := range text {
		switch r {
		case '\n':
			flush(i)
		case '.', '!', '?':
			// A full stop inside a number or abbreviation ("3.5", "e.g.") is no end.
			if next := i + 1; next < len(text) && !unicode.IsSpace(rune(text[next])) {
				continue
			}
			flush(i + 1)
		}
	}
	flush(len(text))
	return out
}

var (
	greetings = []string{"hi", "hello", "hey", "thanks", "thank you", "good morning", "good evening", "good night",
		"bye", "goodbye", "see you", "ok", "okay", "sure", "cool", "great", "nice", "lol", "yes", "no", "yeah", "nope"}
	questionWords = map[string]bool{"who": true, "what": true, "when": true, "where": true, "why": true, "how": true,
		"which": true, "do": true, "does": true, "did": true, "can": true, "could": true, "would": true, "will": true,
		"is": true, "are": true, "should": true, "shall": true, "may": true}
	requestWords = map[string]bool{"please": true, "tell": true, "show": true, "give": true, "help": true, "remind": true,
		"let's": true, "lets": true, "find": true, "explain": true}
	firstPerson = map[string]bool{"i": true, "i'm": true, "im": true, "i've": true, "i'd": true, "i'll": true, "my": true,
		"me": true, "mine": true, "we": true, "we're": true, "we've": true, "our": true, "myself": true}
)

// statesFact reports whether a sentence states something about the speaker: in the
// first person, not a greeting, question or request, and long enough to say something.
func statesFact(s string) bool {
	if strings.HasSuffix(s, "?") {
		return false
	}
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' || r == '’')
	})
	for i, w := range words {
		words[i] = strings.ReplaceAll(w, "’", "'")
	}
	if len(words) < 3 || questionWords[words[0]] || requestWords[words[0]] {
		return false
	}
	low := strings.ToLower(strings.TrimRight(s, ".!,; "))
	for _, g := range greetings {
		if low == g || strings.HasPrefix(low, g+",") || strings.HasPrefix(low, g+" there") || (strings.HasPrefix(low, g+" ") && len(words) <= 4) {
			return false
		}
	}
	for _, w := range words {
		if firstPerson[w] {
			return true
		}
	}
	return false
}

// nearDuplicate is the share of words two texts must have in common (Jaccard of
// their stemmed terms) for the second to add nothing to the first.
const nearDuplicate = 0.8

// ruleDecide adds the fact unless a near-duplicate is stored already (NOOP).
func ruleDecide(f Fact, cands []store.Memory) decision {
	if m := duplicateOf(f.Text, cands); m != nil {
		return decision{event: "NOOP", target: m}
	}
	return decision{event: "ADD", text: f.Text}
}

// duplicateOf returns the candidate that says the same as text, if any.
func duplicateOf(text string, cands []store.Memory) *store.Memory {
	norm := normalizedText(text)
	terms := termSet(text)
	for i := range cands {
		if normalizedText(cands[i].Text) == norm || jaccard(terms, termSet(cands[i].Text)) >= nearDuplicate {
			return &cands[i]
		}
	}
	return nil
}

func termSet(s string) map[string]bool {
	set := map[string]bool{}
	for _, t := range index.Tokenize(s) {
		set[t] = true
	}
	return set
}

func jaccard(a, b map[string]bool) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	both := 0
	for t := range a {
		if b[t] {
			both++
		}
	}
	return float64(both) / float64(len(a)+len(b)-both)
}
