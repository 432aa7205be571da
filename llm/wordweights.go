package llm

import "strings"

// The local embedder weighs words by a fixed prior instead of an IDF learned
// from the corpus: a vector must never change after it was stored unless the
// model version changes, and an IDF that drifts with every insert would move
// stored vectors silently (or leave them stale). Corpus IDF is the keyword
// index's job; retrieval fuses the two.
//
// The prior has three tiers. Function words carry no topic and are dropped.
// Very frequent conversational words ("really", "think", "great") say little
// about which memory is meant, so they count for less. Every other word
// counts in full: in Zipf's law almost all the information sits in the long
// tail, and rare words are where a query and its memory meet.

// stopWords are dropped. The contraction stems (don, isn, ll, ve) are what
// the tokenizer leaves of "don't", "isn't", "we'll", "I've".
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

// commonWords are frequent in any conversation whatever its topic.
const commonWords = `
yes yeah yep yup no nope oh ok okay hey hi hello wow cool nice great good
awesome amazing glad thanks thank please sorry sure really actually totally
definitely pretty quite maybe probably perhaps always never still even much
many lot lots bit kind sort thing things stuff something anything everything
nothing someone anyone everyone anybody somebody way time times now today
well right back get gets got getting go goes going gone went come comes came
coming make makes made making take takes took taking see sees saw seen seeing
know knows knew known think thinks thought say says said tell told want
wants wanted like likes liked look looks looked looking need needs needed
feel feels felt feeling keep kept give gave given put try tries tried trying
use used find found mean means meant hope hoping wish sound sounds seem seems
new old big little lot best better bad fun fantastic wonderful incredible
excited exciting happy love loved loves lovely cute totally super absolutely
one two first last next another every own able yeah hmm ah haha lol guess
cause since though although whether around usually often sometimes may
`

// Weights of the three tiers.
const (
	commonWordWeight = 0.35
	fullWordWeight   = 1.0
)

// wordWeights maps a lower-case word to its prior weight when it is not
// fullWordWeight. It is built once per embedder and only read after that.
type wordWeights map[string]float32

func newWordWeights() wordWeights {
	w := make(wordWeights)
	for _, word := range strings.Fields(commonWords) {
		w[word] = commonWordWeight
	}
	for _, word := range strings.Fields(stopWords) {
		w[word] = 0
	}
	return w
}

// weight returns the prior weight of a lower-case word and of its stem;
// zero means the word is dropped.
func (ww wordWeights) weight(word, stem []byte) float32 {
	if w, ok := ww[string(word)]; ok {
		return w
	}
	if w, ok := ww[string(stem)]; ok {
		return w
	}
	return fullWordWeight
}
