package llm

import "strings"

// The local embedder weighs words by a fixed prior instead of an IDF learned
// from the corpus: a vector must never change after it was stored unless the
// model version changes, and an IDF that drifts with every insert would move
// stored vectors silently (or leave them stale). Corpus IDF enters only on
// the query side (TermStats), and in the keyword index that retrieval fuses
// with the vectors.
//
// The prior is the "smooth inverse frequency" of Arora, Liang and Ma (ICLR
// 2017): a word with share p of spoken English weighs a/(a+p). Very
// frequent words ("really", "think", "great") weigh little, words rarer
// than about one in a thousand weigh nearly 1, and so does every word the
// table does not know, which in a memory store is mostly names and jargon:
// exactly the words a query and its memory meet on. The shares come from
// SUBTLEXus, a corpus of film subtitles, because memories are mostly what
// people say, not what newspapers print.

// sifA is the a of a/(a+p). At 1e-3 a word said once in a thousand tokens
// weighs one half.
const sifA = 1e-3

// stopWords are dropped before anything else: function words carry no
// topic, and dropping them is cheaper than weighing them near zero. The
// contraction stems (don, isn, ll, ve) are what the tokenizer leaves of
// "don't", "isn't", "we'll", "I've".
const stopWords = `
a about above after again against all am an and any are as at be because been
before being below between both but by can could did do does doing down during
each few for from further had has have having he her here hers herself him
himself his i if in into is it its itself just me more most my myself no nor
not of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what
when where which while who whom why will with would you your yours yourself
yourselves how s t d m ll ve re don didn doesn isn wasn aren weren haven hasn
hadn won wouldn couldn shouldn ain im ive id youre thats theres lets
shall might must also yet ever let us via per upon onto
`

// stopSet holds stopWords. It is built once per embedder and only read
// after that.
type stopSet map[string]struct{}

func newStopSet() stopSet {
	s := make(stopSet)
	for _, word := range strings.Fields(stopWords) {
		s[word] = struct{}{}
	}
	return s
}

func (s stopSet) has(word []byte) bool {
	_, ok := s[string(word)]
	return ok
}
