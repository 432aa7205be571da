package llm

import (
	"context"
	"math"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"
)

// LocalModel is the version of the local embedder's features. Change it
// whenever a change to this file would move any vector, so that stored
// vectors are detected as stale and re-embedded.
const LocalModel = "local-v1"

// DefaultLocalDim is the local embedder's default vector length: 100 cells
// of word meaning and 284 of hashed features. On the LoCoMo measure
// (quality_test.go) 256 loses about 0.04 of recall@10 to collisions and 512
// gains under 0.01, while index memory and distance cost grow linearly; 384
// is also what small sentence-embedding models use, so an index tuned for
// one suits the other.
const DefaultLocalDim = 384

// LocalEmbedder embeds text offline and deterministically, with no model
// download. Its vector has two parts, each normalised and then weighed, so
// the cosine of two vectors is a fixed mix of two similarities:
//
// The first part is a bag of weighted features hashed into the vector (the
// hashing trick, with a hashed sign so collisions cancel on average instead
// of piling up):
//
//   - word stems, so that "painted" meets "painting";
//   - pairs of neighbouring content words, which keep some word order
//     ("support group" is not "group support" scattered over a text);
//   - character n-grams of each word, which match typos, compounds and
//     derivations that the stemmer leaves apart ("photography" and
//     "photographer"), a signal a keyword index lacks.
//
// The second part is word meaning: the weighted average of the GloVe
// vectors of the text's words (wordvecs.go), so that "kids" is near
// "children" and "pets" near "dog" with no word in common, the other
// signal a keyword index lacks. It is only there when the vector has room
// for it (dim at least 200).
//
// Words are weighed by how rare they are in spoken English (wordweights.go),
// term frequency sublinearly. For searching, EmbedQuery can weigh query
// words by their rarity in the searched corpus as well (termstats.go).
//
// A text without content words (empty, punctuation, only stop words)
// embeds to the zero vector, which is similar to nothing.
type LocalEmbedder struct {
	dim     int
	lexDim  int // the first lexDim cells hold hashed features, the rest word meaning
	params  localParams
	stop    stopSet
	words   *wordTable
	scratch sync.Pool // *localScratch, so steady-state embedding does not allocate
}

// localParams are the relative weights of the feature families. They are
// part of the model: changing them needs a new LocalModel.
type localParams struct {
	word     float32 // a word stem
	bigram   float32 // two neighbouring content words
	chars    float32 // all character n-grams of one word together
	minGram  int
	maxGram  int
	shortLen int     // words up to this many bytes count less
	short    float32 // the factor for them
	digits   float32 // the factor for a token of digits only
	// semantic is the weight of the word-meaning part against the hashed
	// part (weight 1); zero leaves it out.
	semantic float32
}

func defaultLocalParams() localParams {
	return localParams{
		word:     1.0,
		bigram:   0.35,
		chars:    1.0,
		minGram:  3,
		maxGram:  5,
		shortLen: 2,
		short:    0.5,
		digits:   0.7,
		semantic: 1.0,
	}
}

// NewLocal returns a local embedder of vectors of length dim, or of
// DefaultLocalDim when dim is not positive.
func NewLocal(dim int) *LocalEmbedder {
	return newLocalWith(dim, defaultLocalParams())
}

func newLocalWith(dim int, p localParams) *LocalEmbedder {
	if dim <= 0 {
		dim = DefaultLocalDim
	}
	words, err := parseWordTable(wordVecsFile)
	if err != nil {
		panic(err) // the table is compiled in: a bad one is a build error
	}
	e := &LocalEmbedder{dim: dim, lexDim: dim, params: p, stop: newStopSet(), words: words}
	// Word meaning needs the table's dimensions, and must leave the hashed
	// features at least as many.
	if p.semantic > 0 && dim >= 2*words.dim {
		e.lexDim = dim - words.dim
	}
	return e
}

func (e *LocalEmbedder) Dim() int      { return e.dim }
func (e *LocalEmbedder) Name() string  { return "local" }
func (e *LocalEmbedder) Model() string { return LocalModel }

// Embed embeds texts. It fails only when ctx is done.
func (e *LocalEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, _, err := e.EmbedWithUsage(ctx, texts)
	return vecs, err
}

// EmbedWithUsage embeds texts; the usage counts the words it read, as the
// local stand-in for tokens.
func (e *LocalEmbedder) EmbedWithUsage(ctx context.Context, texts []string) ([][]float32, Usage, error) {
	if err := ctx.Err(); err != nil {
		return nil, Usage{}, err
	}
	// One backing array for the whole batch: one allocation, and the
	// vectors sit next to each other for the caller's index.
	backing := make([]float32, len(texts)*e.dim)
	vecs := make([][]float32, len(texts))
	s := e.getScratch()
	defer e.scratch.Put(s)
	var usage Usage
	for i, text := range texts {
		if i%256 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, Usage{}, err
			}
		}
		v := backing[i*e.dim : (i+1)*e.dim : (i+1)*e.dim]
		usage.PromptTokens += e.embedOne(s, text, v)
		vecs[i] = v
	}
	return vecs, usage, nil
}

// EmbedOne embeds one text into dst, which must have length Dim(). It lets
// a caller that embeds one text at a time reuse its buffer.
func (e *LocalEmbedder) EmbedOne(text string, dst []float32) {
	if len(dst) != e.dim {
		panic("llm: EmbedOne destination has the wrong length")
	}
	clear(dst)
	s := e.getScratch()
	e.embedOne(s, text, dst)
	e.scratch.Put(s)
}

func (e *LocalEmbedder) getScratch() *localScratch {
	if s, ok := e.scratch.Get().(*localScratch); ok {
		return s
	}
	return &localScratch{}
}

// localScratch holds the buffers of one embedding, reused across texts.
type localScratch struct {
	lower []byte      // the text's words, lower-cased, back to back
	words []localWord // content words in text order
	terms []localWord // distinct stems, with counts
	stem  []byte
	gram  []byte
	// corpus, when set, weighs words by their rarity in it (queries only).
	corpus *TermStats
}

type localWord struct {
	start, end int32   // the word in localScratch.lower
	stem       uint64  // hash of its stem
	row        int32   // its row in the word table, or -1
	weight     float32 // prior weight
	count      int32   // occurrences (terms only)
}

// Seeds keep the feature families apart in the hash space.
const (
	seedWord   uint64 = 0x9e3779b97f4a7c15
	seedBigram uint64 = 0xc2b2ae3d27d4eb4f
	seedChars  uint64 = 0x165667b19e3779f9
)

// embedOne adds the features of text to v (zeroed, length dim), normalises
// it and returns the number of words read.
func (e *LocalEmbedder) embedOne(s *localScratch, text string, v []float32) int {
	nWords := e.tokenize(s, text)
	p := &e.params

	// Neighbouring content words, in text order.
	for i := 1; i < len(s.words); i++ {
		a, b := s.words[i-1], s.words[i]
		h := mix64(a.stem*31 + b.stem + seedBigram)
		e.add(v, h, float32(p.bigram*min(a.weight, b.weight)))
	}

	// Distinct stems with sublinear term frequency.
	s.terms = append(s.terms[:0], s.words...)
	slices.SortFunc(s.terms, func(a, b localWord) int {
		switch {
		case a.stem < b.stem:
			return -1
		case a.stem > b.stem:
			return 1
		}
		return int(a.start - b.start)
	})
	terms := s.terms[:0]
	for _, w := range s.terms {
		if n := len(terms); n > 0 && terms[n-1].stem == w.stem {
			terms[n-1].count++
			continue
		}
		w.count = 1
		terms = append(terms, w)
	}
	lex, sem := v[:e.lexDim], v[e.lexDim:]
	for _, t := range terms {
		// Sublinear term frequency. A square root rather than the usual
		// 1+log: IEEE 754 rounds square roots exactly on every processor,
		// while math.Log may differ in the last bit between its assembly
		// and Go versions, and a stored vector must not depend on the
		// machine that made it.
		tf := float32(math.Sqrt(float64(t.count)))
		w := float32(t.weight * tf)
		e.add(lex, mix64(t.stem^seedWord), float32(p.word*w))
		e.addCharGrams(s, lex, s.lower[t.start:t.end], float32(p.chars*w))
		if len(sem) > 0 && t.row >= 0 {
			e.words.addVec(sem, t.row, w)
		}
	}
	// Each part gets its fixed share of the length, so the cosine of two
	// vectors mixes the two similarities in a fixed proportion.
	normalize(lex)
	if len(sem) > 0 {
		normalize(sem)
		for i := range sem {
			sem[i] *= p.semantic
		}
	}
	normalize(v)
	return nWords
}

// addCharGrams adds the character n-grams of word, framed by boundary marks
// so that prefixes and suffixes are features of their own. The n-grams of
// one word share the weight w between them, so a long word does not
// outweigh a short one.
func (e *LocalEmbedder) addCharGrams(s *localScratch, v []float32, word []byte, w float32) {
	p := &e.params
	s.gram = append(append(append(s.gram[:0], '<'), word...), '>')
	g := s.gram
	total := 0
	for n := p.minGram; n <= p.maxGram; n++ {
		if len(g) >= n {
			total += len(g) - n + 1
		}
	}
	if total == 0 {
		return
	}
	gw := float32(w / float32(math.Sqrt(float64(total))))
	for n := p.minGram; n <= p.maxGram; n++ {
		for i := 0; i+n <= len(g); i++ {
			e.add(v, hashBytes(seedChars+uint64(n), g[i:i+n]), gw)
		}
	}
}

// add adds w to the cell that h picks, with the sign that h picks.
//
// Every weight reaching here went through an explicit float32 conversion:
// Go may fuse a multiply and an add on some processors (arm64), which
// would change the last bits of a vector from one machine to another. The
// conversions forbid that, so a text embeds the same everywhere.
func (e *LocalEmbedder) add(v []float32, h uint64, w float32) {
	idx := (h >> 32) * uint64(len(v)) >> 32
	if h&1 == 1 {
		w = -w
	}
	v[idx] += w
}

// tokenize fills s.lower and s.words with the content words of text and
// returns the number of words read (content or not). A word is a run of
// letters and digits. Apostrophes split words: what they leave of "she's",
// "don't" or "we'll" ("s", "don", "ll") is in the stop list.
func (e *LocalEmbedder) tokenize(s *localScratch, text string) int {
	s.lower = s.lower[:0]
	s.words = s.words[:0]
	n := 0
	start := 0
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
				s.lower = append(s.lower, c)
				continue
			case 'A' <= c && c <= 'Z':
				s.lower = append(s.lower, c+'a'-'A')
				continue
			}
		} else {
			r, size := utf8.DecodeRuneInString(text[i:])
			i += size
			if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) {
				s.lower = utf8.AppendRune(s.lower, unicode.ToLower(r))
				continue
			}
		}
		if end := len(s.lower); end > start {
			n++
			e.addWord(s, start, end)
			start = end
		}
	}
	if end := len(s.lower); end > start {
		n++
		e.addWord(s, start, end)
	}
	return n
}

// addWord records the word s.lower[start:end] unless the prior drops it.
// The text in s.lower stays either way, so later words keep their offsets.
func (e *LocalEmbedder) addWord(s *localScratch, start, end int) {
	word := s.lower[start:end]
	s.stem = stemWord(word, s.stem[:0])
	stem := s.stem
	if e.stop.has(word) {
		return
	}
	p := &e.params
	w := float32(1)
	row := e.words.lookup(word)
	if row < 0 {
		row = e.words.lookup(stem)
	}
	if row >= 0 {
		w = float32(sifA / (sifA + e.words.prob(row)))
	}
	if len(word) <= p.shortLen {
		w *= p.short
	}
	if allDigits(word) {
		w *= p.digits
	}
	h := hashBytes(0, stem)
	if s.corpus != nil {
		w *= s.corpus.idf(h)
	}
	s.words = append(s.words, localWord{
		start:  int32(start),
		end:    int32(end),
		stem:   h,
		row:    row,
		weight: w,
	})
}

func allDigits(w []byte) bool {
	for _, c := range w {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// hashBytes is FNV-1a over b from a seeded start, finished with mix64 so
// that every bit of the result depends on every input byte.
func hashBytes(seed uint64, b []byte) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return mix64(h)
}

// mix64 is the finaliser of SplitMix64: a bijection that spreads entropy
// over all 64 bits.
func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
