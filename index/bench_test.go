package index

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Benchmarks for BENCHMARKS.md. Indexes are built once per size and shared
// across benchmarks of one run. The 1M size runs only with
// MEMORYD_BENCH_LARGE=1: it needs about 6 GiB and a long build.

const benchDim = 384

type benchIndex struct {
	data       *dataset
	hnsw       *HNSW
	exact      *Exact
	truth      [][]string
	build      time.Duration
	heapPerVec float64
}

var benchIndexes struct {
	sync.Mutex
	bySize map[int]*benchIndex
}

func benchSizes(b *testing.B) []int {
	sizes := []int{10000, 100000}
	if os.Getenv("MEMORYD_BENCH_LARGE") == "1" {
		sizes = append(sizes, 1000000)
	}
	return sizes
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// sharedBenchIndex builds (once) an HNSW of n clustered vectors, 100 per
// cluster like the recall test, and an exact index of the same items.
func sharedBenchIndex(b *testing.B, n int) *benchIndex {
	benchIndexes.Lock()
	defer benchIndexes.Unlock()
	if bi := benchIndexes.bySize[n]; bi != nil {
		return bi
	}
	b.Logf("building %d x %d ...", n, benchDim)
	d := clusteredData(2026, n, 100, benchDim, max(n/100, 1), 0.7)
	before := heapInUse()
	start := time.Now()
	h := NewHNSW(benchDim, DefaultHNSWConfig())
	if err := h.AddBatch(d.ids, d.vectors, 2); err != nil {
		b.Fatal(err)
	}
	build := time.Since(start)
	perVec := float64(heapInUse()-before) / float64(n)
	exact := NewExactMetric(benchDim, DotProduct)
	for i, v := range d.vectors {
		exact.Add(d.ids[i], v)
	}
	bi := &benchIndex{data: d, hnsw: h, exact: exact, truth: groundTruth(d, 10), build: build, heapPerVec: perVec}
	if benchIndexes.bySize == nil {
		benchIndexes.bySize = map[int]*benchIndex{}
	}
	benchIndexes.bySize[n] = bi
	return bi
}

func sizeName(n int) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return fmt.Sprintf("%dM", n/1000000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func BenchmarkDot384(b *testing.B) {
	x, y := randomUnit(rngFor(1), benchDim), randomUnit(rngFor(2), benchDim)
	var sink float32
	for b.Loop() {
		sink += Dot(x, y)
	}
	_ = sink
}

// BenchmarkBuild measures insert throughput into a 10k index, serially and
// with AddBatch's two workers.
func BenchmarkBuild(b *testing.B) {
	d := clusteredData(11, 10000, 0, benchDim, 100, 0.7)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("10k/workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				h := NewHNSW(benchDim, DefaultHNSWConfig())
				if err := h.AddBatch(d.ids, d.vectors, workers); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(d.ids))/b.Elapsed().Seconds(), "vectors/s")
		})
	}
}

// BenchmarkSearch compares HNSW (default parameters) with the exact scan at
// each size, reporting recall@10, the build and the heap per vector.
func BenchmarkSearch(b *testing.B) {
	for _, n := range benchSizes(b) {
		bi := sharedBenchIndex(b, n)
		qs := bi.data.queries
		b.Run(sizeName(n)+"/hnsw", func(b *testing.B) {
			i := 0
			for b.Loop() {
				bi.hnsw.Search(qs[i%len(qs)], 10, nil)
				i++
			}
			recall := recallAt(10, qs, bi.truth, func(q []float32, k int) []Result { return bi.hnsw.Search(q, k, nil) })
			b.ReportMetric(recall, "recall@10")
			b.ReportMetric(bi.build.Seconds(), "build-s")
			b.ReportMetric(float64(n)/bi.build.Seconds(), "build-vectors/s")
			b.ReportMetric(bi.heapPerVec, "heap-B/vector")
		})
		b.Run(sizeName(n)+"/exact", func(b *testing.B) {
			i := 0
			for b.Loop() {
				bi.exact.Search(qs[i%len(qs)], 10, nil)
				i++
			}
		})
	}
}

// BenchmarkFilteredSearch measures a 100k index under filters admitting 1%,
// 10% and 50% of items.
func BenchmarkFilteredSearch(b *testing.B) {
	bi := sharedBenchIndex(b, 100000)
	qs := bi.data.queries
	for _, every := range []int{100, 10, 2} {
		filter := func(id string) bool { return idNumber(id)%every == 0 }
		b.Run(fmt.Sprintf("100k/pass=%d%%", 100/every), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if got := bi.hnsw.Search(qs[i%len(qs)], 10, filter); len(got) != 10 {
					b.Fatalf("%d results", len(got))
				}
				i++
			}
		})
	}
}

// BenchmarkCrossover times both indexes on small sizes to find where HNSW
// overtakes the exact scan (ExactCrossover).
func BenchmarkCrossover(b *testing.B) {
	for _, n := range []int{250, 500, 750, 1000, 2000, 4000} {
		d := clusteredData(17, n, 100, benchDim, max(n/100, 1), 0.7)
		h := NewHNSW(benchDim, DefaultHNSWConfig())
		if err := h.AddBatch(d.ids, d.vectors, 2); err != nil {
			b.Fatal(err)
		}
		e := NewExactMetric(benchDim, DotProduct)
		for i, v := range d.vectors {
			e.Add(d.ids[i], v)
		}
		for name, idx := range map[string]Vector{"hnsw": h, "exact": e} {
			b.Run(fmt.Sprintf("%s/%s", sizeName(n), name), func(b *testing.B) {
				i := 0
				for b.Loop() {
					idx.Search(d.queries[i%len(d.queries)], 10, nil)
					i++
				}
			})
		}
	}
}

// BenchmarkSnapshot saves and loads the 100k index; compare with its build
// time (BenchmarkSearch's build-s) for the rebuild it saves.
func BenchmarkSnapshot(b *testing.B) {
	bi := sharedBenchIndex(b, 100000)
	path := filepath.Join(b.TempDir(), "bench.hnsw")
	b.Run("100k/save", func(b *testing.B) {
		for b.Loop() {
			if err := bi.hnsw.Save(path, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		info, _ := os.Stat(path)
		b.ReportMetric(float64(info.Size())/(1<<20), "MiB")
	})
	b.Run("100k/load", func(b *testing.B) {
		for b.Loop() {
			if _, err := LoadHNSW(path, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkKeyword measures building the BM25 index (the cost of rebuilding
// it on start instead of snapshotting it) and searching it.
func BenchmarkKeyword(b *testing.B) {
	texts := make([]string, 100000)
	rng := rngFor(3)
	vocabulary := make([]string, 5000)
	for i := range vocabulary {
		vocabulary[i] = fmt.Sprintf("word%d", i)
	}
	for i := range texts {
		var buf bytes.Buffer
		buf.WriteString("The user ")
		for range 12 {
			// Squaring skews the draw towards common words, like real text.
			r := rng.Float64()
			buf.WriteString(vocabulary[int(r*r*float64(len(vocabulary)))])
			buf.WriteByte(' ')
		}
		texts[i] = buf.String()
	}
	var k *Keyword
	b.Run("build-100k", func(b *testing.B) {
		for b.Loop() {
			k = NewKeyword()
			for i, text := range texts {
				k.Add(itemID(i), text)
			}
		}
		b.ReportMetric(float64(b.N*len(texts))/b.Elapsed().Seconds(), "docs/s")
	})
	b.Run("search-100k", func(b *testing.B) {
		i := 0
		for b.Loop() {
			k.Search(vocabulary[i%50]+" "+vocabulary[(i*13)%2000], 10, nil)
			i++
		}
	})
}

// BenchmarkUniform reports query time and recall@10 on 10k vectors drawn
// uniformly from the sphere, the worst case for a graph index.
func BenchmarkUniform(b *testing.B) {
	d := uniformData(99, 10000, 100, benchDim)
	h := NewHNSW(benchDim, DefaultHNSWConfig())
	if err := h.AddBatch(d.ids, d.vectors, 2); err != nil {
		b.Fatal(err)
	}
	truth := groundTruth(d, 10)
	for _, ef := range []int{64, 128, 256} {
		b.Run(fmt.Sprintf("10k/ef=%d", ef), func(b *testing.B) {
			i := 0
			for b.Loop() {
				h.SearchEf(d.queries[i%len(d.queries)], 10, ef, nil)
				i++
			}
			b.ReportMetric(recallAt(10, d.queries, truth, func(q []float32, k int) []Result { return h.SearchEf(q, k, ef, nil) }), "recall@10")
		})
	}
}

// BenchmarkKeywordZipf: 100k documents shaped like the engine's keyword texts (a
// memory of 8–20 words with the two memories before it), words drawn by Zipf's law
// over 20,000 headed by function words, queries of 4–10 words, the 50 best kept, as a retrieval asks.
func BenchmarkKeywordZipf(b *testing.B) {
	rng := rngFor(11)
	// The head of the distribution is function words, which the tokenizer drops.
	vocab := strings.Fields("the to and a of i in you it is that my was for on with me at have be this so but we he not are just")
	for i := len(vocab); i < 20_000; i++ {
		vocab = append(vocab, fmt.Sprintf("w%dx", i))
	}
	// Zipf (s = 1.1) by inverse transform over the ranks' weights.
	cum := make([]float64, len(vocab))
	total := 0.0
	for i := range cum {
		total += 1 / math.Pow(float64(i+2), 1.1)
		cum[i] = total
	}
	word := func() string {
		r := rng.Float64() * total
		return vocab[sort.SearchFloat64s(cum, r)]
	}
	sentence := func(lo, hi int) string {
		w := make([]string, lo+rng.IntN(hi-lo+1))
		for i := range w {
			w[i] = word()
		}
		return strings.Join(w, " ")
	}
	k := NewKeyword()
	var prev [2]string
	for i := 0; i < 100_000; i++ {
		s := sentence(8, 20)
		k.Add(itemID(i), prev[0]+" "+prev[1]+" "+s)
		prev[0], prev[1] = prev[1], s
	}
	queries := make([]string, 1000)
	for i := range queries {
		queries[i] = sentence(4, 10)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k.Search(queries[i%len(queries)], 50, nil)
	}
}
