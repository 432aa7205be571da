package llm

// stemWord strips the commonest English inflections from a lower-case ASCII
// word, so that "painted", "painting" and "paints" meet in one feature. It is
// deliberately light (plurals, -ed, -ing, -ly): a heavier stemmer merges
// words that mean different things, and the character n-grams already give
// partial credit for the derivations it leaves alone. The result is written
// into buf, grown if need be.
func stemWord(word []byte, buf []byte) []byte {
	w := append(buf[:0], word...)
	n := len(w)
	if n <= 3 || !isASCIILower(w) {
		return w
	}

	// Plurals and third person: stories→story, classes→class, groups→group.
	switch {
	case hasSuffix(w, "ies") && n > 4:
		w = append(w[:n-3], 'y')
	case hasSuffix(w, "sses"):
		w = w[:n-2]
	case hasSuffix(w, "ss"), hasSuffix(w, "us"), hasSuffix(w, "is"):
	case w[n-1] == 's':
		w = w[:n-1]
	}
	n = len(w)

	// Past tense and participles: tried→try, painted→paint, making→make,
	// planned→plan.
	switch {
	case hasSuffix(w, "ied") && n > 4:
		w = append(w[:n-3], 'y')
	case hasSuffix(w, "eed"):
		// agreed, need: leave alone.
	case hasSuffix(w, "ed") && hasVowel(w[:n-2]):
		w = restoreStem(w[:n-2])
	case hasSuffix(w, "ing") && n > 4 && hasVowel(w[:n-3]):
		w = restoreStem(w[:n-3])
	case hasSuffix(w, "ly") && n > 5:
		w = w[:n-2]
	}
	return w
}

// restoreStem repairs a stem whose -ed or -ing was cut: a doubled final
// consonant is undone (running→run) and a short consonant-vowel-consonant
// stem gets its silent e back (making→make, loved→love).
func restoreStem(w []byte) []byte {
	n := len(w)
	if n >= 2 && w[n-1] == w[n-2] && !isVowel(w, n-1) {
		switch w[n-1] {
		case 'l', 's', 'z':
			// call, miss, buzz keep their double letter.
		default:
			return w[:n-1]
		}
	}
	if hasSuffix(w, "at") || hasSuffix(w, "bl") || hasSuffix(w, "iz") {
		return append(w, 'e')
	}
	if measure(w) == 1 && endsCVC(w) {
		return append(w, 'e')
	}
	return w
}

// isVowel says whether w[i] is a vowel; y counts as one after a consonant.
func isVowel(w []byte, i int) bool {
	switch w[i] {
	case 'a', 'e', 'i', 'o', 'u':
		return true
	case 'y':
		return i > 0 && !isVowel(w, i-1)
	}
	return false
}

func hasVowel(w []byte) bool {
	for i := range w {
		if isVowel(w, i) {
			return true
		}
	}
	return false
}

// measure counts the vowel-consonant sequences of w, as in Porter's stemmer.
func measure(w []byte) int {
	m := 0
	prevVowel := false
	for i := range w {
		v := isVowel(w, i)
		if !v && prevVowel {
			m++
		}
		prevVowel = v
	}
	return m
}

// endsCVC says whether w ends consonant-vowel-consonant with a last
// consonant other than w, x or y (hop, lov, but not snow or box).
func endsCVC(w []byte) bool {
	n := len(w)
	if n < 3 || isVowel(w, n-3) || !isVowel(w, n-2) || isVowel(w, n-1) {
		return false
	}
	switch w[n-1] {
	case 'w', 'x', 'y':
		return false
	}
	return true
}

func hasSuffix(w []byte, suffix string) bool {
	return len(w) >= len(suffix) && string(w[len(w)-len(suffix):]) == suffix
}

func isASCIILower(w []byte) bool {
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
