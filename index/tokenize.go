package index

import (
	"strings"
	"unicode"
)

// Tokenize splits text into search terms: lower-cased runs of Unicode letters
// and digits, without common English stop words, with plurals folded to the
// singular ("memories" and "memory" match). Stemming stops at plurals on
// purpose: heavier stemmers conflate words users mean differently, and a
// memory store is searched for names and facts more than for prose.
func Tokenize(text string) []string {
	var terms []string
	start := -1
	for i, r := range text {
		inWord := unicode.IsLetter(r) || unicode.IsDigit(r)
		switch {
		case inWord && start < 0:
			start = i
		case !inWord && start >= 0:
			terms = appendTerm(terms, text[start:i])
			start = -1
		}
	}
	if start >= 0 {
		terms = appendTerm(terms, text[start:])
	}
	return terms
}

func appendTerm(terms []string, word string) []string {
	word = strings.ToLower(word)
	if isStopWord(word) {
		return terms
	}
	return append(terms, singular(word))
}

// singular folds regular English plurals, leaving words that merely end in
// s ("status", "analysis", "glass") alone.
func singular(w string) string {
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case len(w) > 4 && (strings.HasSuffix(w, "sses") || strings.HasSuffix(w, "shes") ||
		strings.HasSuffix(w, "ches") || strings.HasSuffix(w, "xes")):
		return w[:len(w)-2]
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") &&
		!strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		return w[:len(w)-1]
	}
	return w
}

// isStopWord reports whether w is too common in English to help ranking.
// A switch rather than a map keeps the list immutable.
func isStopWord(w string) bool {
	switch w {
	case "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from",
		"has", "have", "he", "her", "his", "i", "in", "into", "is", "it", "its",
		"me", "my", "of", "on", "or", "our", "s", "she", "so", "t", "that", "the",
		"their", "them", "they", "this", "to", "was", "we", "were", "what",
		"when", "which", "who", "will", "with", "you", "your":
		return true
	}
	return false
}
