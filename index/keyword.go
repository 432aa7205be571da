package index

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// BM25 parameters: the usual Okapi values.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// Keyword is a BM25 (Okapi) full-text index, kept beside a tenant's vectors
// for hybrid retrieval. It has no snapshot on purpose: it is rebuilt from
// the stored texts on start, at about 100,000 short memories a second on two
// contended cores (BenchmarkKeyword/build-100k), so even a million memories
// cost seconds, and a second file format to keep in step would buy little.
//
// Safe for many readers beside one writer (a RWMutex; writes are short).
type Keyword struct {
	mu      sync.RWMutex
	slots   map[string]uint32
	ids     []string // "" for a deleted slot
	lengths []uint32 // terms per document
	// terms holds each document's distinct terms, by number, to undo its
	// postings. Numbers rather than strings: at 100,000 memories the strings were
	// three million pointers for the collector to follow on every cycle, each
	// into its memory's text, which they kept alive.
	terms    [][]uint32
	numbers  map[string]uint32 // a term's number: its index in lists
	lists    []termList
	totalLen int
	dead     int // deleted slots still referenced from postings
	scores   sync.Pool
}

// termList is one term's postings and the live documents that hold it.
type termList struct {
	postings []posting
	df       int
}

// posting is one document's frequency of one term, with the document's length, so
// scoring a posting reads nothing else.
type posting struct {
	slot   uint32
	freq   uint32
	length uint32
}

// NewKeyword returns an empty keyword index.
func NewKeyword() *Keyword {
	return &Keyword{
		slots:   make(map[string]uint32),
		numbers: make(map[string]uint32),
	}
}

// Add indexes text under id, replacing any text already stored under it.
func (k *Keyword) Add(id, text string) error {
	if id == "" {
		return ErrEmptyID
	}
	tokens := Tokenize(text)
	freq := make(map[string]uint32, len(tokens))
	for _, t := range tokens {
		freq[t]++
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.remove(id)
	slot := uint32(len(k.ids))
	distinct := make([]uint32, 0, len(freq))
	for term, f := range freq {
		n, ok := k.numbers[term]
		if !ok {
			// A copy: the token is a piece of text, which the index does not keep.
			n = uint32(len(k.lists))
			k.numbers[strings.Clone(term)] = n
			k.lists = append(k.lists, termList{})
		}
		distinct = append(distinct, n)
		l := &k.lists[n]
		l.postings = append(l.postings, posting{slot: slot, freq: f, length: uint32(len(tokens))})
		l.df++
	}
	k.slots[id] = slot
	k.ids = append(k.ids, id)
	k.lengths = append(k.lengths, uint32(len(tokens)))
	k.terms = append(k.terms, distinct)
	k.totalLen += len(tokens)
	k.compactIfNeeded()
	return nil
}

// Delete removes id and reports whether it was present.
func (k *Keyword) Delete(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	ok := k.remove(id)
	k.compactIfNeeded()
	return ok
}

// Len returns the number of documents.
func (k *Keyword) Len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.slots)
}

// remove retires id's slot; its postings stay until the next compaction.
func (k *Keyword) remove(id string) bool {
	slot, ok := k.slots[id]
	if !ok {
		return false
	}
	for _, n := range k.terms[slot] {
		k.lists[n].df--
	}
	k.totalLen -= int(k.lengths[slot])
	k.ids[slot], k.lengths[slot], k.terms[slot] = "", 0, nil
	delete(k.slots, id)
	k.dead++
	return true
}

// compactIfNeeded renumbers live documents, drops dead postings and forgets the
// terms no live document holds, once dead slots make up half of all slots,
// keeping the cost amortised per write.
func (k *Keyword) compactIfNeeded() {
	if k.dead < 64 || k.dead*2 < len(k.ids) {
		return
	}
	renumber := make([]uint32, len(k.ids))
	var ids []string
	var lengths []uint32
	var terms [][]uint32
	for slot, id := range k.ids {
		if id == "" {
			continue
		}
		renumber[slot] = uint32(len(ids))
		k.slots[id] = uint32(len(ids))
		ids = append(ids, id)
		lengths = append(lengths, k.lengths[slot])
		terms = append(terms, k.terms[slot])
	}
	// The terms that keep postings are numbered afresh, in their old order, in
	// place; the others are forgotten.
	const dropped = ^uint32(0)
	newNumber := make([]uint32, len(k.lists))
	lists := k.lists[:0]
	for n, l := range k.lists {
		kept := l.postings[:0]
		for _, p := range l.postings {
			if k.ids[p.slot] != "" {
				p.slot = renumber[p.slot]
				kept = append(kept, p)
			}
		}
		if len(kept) == 0 {
			newNumber[n] = dropped
			continue
		}
		newNumber[n] = uint32(len(lists))
		lists = append(lists, termList{postings: kept, df: l.df})
	}
	clear(k.lists[len(lists):])
	k.lists = lists
	for term, n := range k.numbers {
		if newNumber[n] == dropped {
			delete(k.numbers, term)
		} else {
			k.numbers[term] = newNumber[n]
		}
	}
	for _, doc := range terms {
		for i, n := range doc {
			doc[i] = newNumber[n]
		}
	}
	k.ids, k.lengths, k.terms, k.dead = ids, lengths, terms, 0
}

// Search returns up to limit documents ranked by BM25 against query, best
// first, among those filter admits (nil admits all). Score holds the BM25
// score; Distance is 0.
func (k *Keyword) Search(query string, limit int, filter func(id string) bool) []Result {
	return k.search(query, limit, filter, nil)
}

// SearchAmong is Search over the documents ids only (ids not in the index are
// ignored): the postings of the query's words are read as by Search, and only
// the listed documents are scored, so a small candidate set costs no more than
// the words' postings.
func (k *Keyword) SearchAmong(query string, limit int, ids []string) []Result {
	return k.search(query, limit, nil, ids)
}

// search scores by BM25 every document holding a query term, or only those among
// ids when ids is not nil, and keeps the best limit that filter admits.
func (k *Keyword) search(query string, limit int, filter func(id string) bool, ids []string) []Result {
	terms := Tokenize(query)
	if len(terms) == 0 || limit <= 0 {
		return nil
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	docs := len(k.slots)
	if docs == 0 {
		return nil
	}
	avgLen := float64(k.totalLen) / float64(docs)
	if avgLen == 0 {
		avgLen = 1
	}

	acc, _ := k.scores.Get().(*scoreBoard)
	if acc == nil {
		acc = new(scoreBoard)
	}
	defer k.scores.Put(acc)
	acc.reset(len(k.ids))
	var member []uint64 // a bit per slot, when scoring among ids
	if ids != nil {
		member = make([]uint64, (len(k.ids)+63)/64)
		for _, id := range ids {
			if slot, ok := k.slots[id]; ok {
				member[slot/64] |= 1 << (slot % 64)
			}
		}
	}

	// The rarest words first: their documents score highest, so the ranking below
	// meets its best candidates early and dismisses most of the rest unheaped.
	type queryTerm struct {
		df       int
		postings []posting
	}
	var small [16]queryTerm
	lists := small[:0]
	slices.Sort(terms)
	for _, term := range slices.Compact(terms) {
		if n, ok := k.numbers[term]; ok && k.lists[n].df > 0 {
			lists = append(lists, queryTerm{k.lists[n].df, k.lists[n].postings})
		}
	}
	slices.SortFunc(lists, func(a, b queryTerm) int { return cmp.Compare(a.df, b.df) })
	for _, t := range lists {
		idf := math.Log(1 + (float64(docs)-float64(t.df)+0.5)/(float64(t.df)+0.5))
		// Deleted documents' postings are scored too (until compaction drops
		// them) and skipped below: cheaper than a check per posting.
		// idf·tf·(k1+1) / (tf + k1·(1−b) + k1·b·length/avgLen), in float32 like
		// the scores: the division is most of a posting's arithmetic.
		weight := float32(idf * (bm25K1 + 1))
		lenScale := float32(bm25K1 * bm25B / avgLen)
		const base = float32(bm25K1 * (1 - bm25B))
		for i, p := range t.postings {
			if i%prefetchBatch == 0 && i+postingsAhead < len(t.postings) {
				// The scores this term will add to lie all over the board: their
				// lines are asked for a stretch of postings ahead.
				acc.prefetch(t.postings[i+postingsAhead : min(i+postingsAhead+prefetchBatch, len(t.postings))])
			}
			if member != nil && member[p.slot/64]&(1<<(p.slot%64)) == 0 {
				continue
			}
			tf := float32(p.freq)
			acc.add(p.slot, weight*tf/(tf+base+lenScale*float32(p.length)))
		}
	}

	// Scores are kept as negative distances so the same bounded heap that ranks
	// vectors ranks documents. Once the heap is full, a document must beat its
	// worst (bar) to enter; most do not, and are dismissed on their score alone.
	best := make(maxQueue, 0, limit+1)
	bar := float32(math.Inf(1))
	for _, slot := range acc.touched {
		d := -acc.take(slot)
		if d >= bar || k.dead > 0 && k.ids[slot] == "" {
			continue
		}
		if filter != nil && !filter(k.ids[slot]) {
			continue
		}
		best.pushBounded(candidate{dist: d, slot: slot}, limit)
		if len(best) == limit {
			bar = best[0].dist
		}
	}
	acc.touched = acc.touched[:0] // all taken
	ranked := best.sortedAscending()
	out := make([]Result, len(ranked))
	for i, c := range ranked {
		out[i] = Result{ID: k.ids[c.slot], Score: -c.dist}
	}
	return out
}

// scoreBoard accumulates per-document scores for one search without a map: a dense
// array of scores, one float per slot, and the list of slots touched. Every BM25
// term adds a positive amount, so 0 is "not touched yet"; a search takes each
// touched score back out (take), leaving the board all zeros for the next one.
// Four bytes a slot keep the board of 100,000 documents in a core's second-level
// cache, where a stamp beside each score (eight bytes a slot) did not fit.
type scoreBoard struct {
	scores  []float32
	touched []uint32
}

// reset starts a search over n slots, growing the board to hold them (with room
// to spare). Scores a search left behind (one that stopped before taking them
// all) are cleared first.
func (b *scoreBoard) reset(n int) {
	for _, slot := range b.touched {
		b.scores[slot] = 0
	}
	b.touched = b.touched[:0]
	if len(b.scores) < n {
		b.scores = make([]float32, n+n/4+64)
	}
}

func (b *scoreBoard) add(slot uint32, v float32) {
	s := &b.scores[slot]
	if *s == 0 {
		b.touched = append(b.touched, slot)
	}
	*s += v
}

// take returns slot's score and clears it.
func (b *scoreBoard) take(slot uint32) float32 {
	s := b.scores[slot]
	b.scores[slot] = 0
	return s
}

// How far ahead of the posting being scored its board entry is fetched, and how
// many at a time.
const (
	postingsAhead = 64
	prefetchBatch = 16
)

// prefetch starts loading the board entries of postings (a hint: it does
// nothing where there is no prefetch instruction).
func (b *scoreBoard) prefetch(postings []posting) {
	if hasPrefetch && len(postings) > 0 {
		prefetchRows(unsafe.Pointer(unsafe.SliceData(b.scores)), 4, 4,
			unsafe.Pointer(&postings[0].slot), int(unsafe.Sizeof(posting{})), len(postings))
	}
}
