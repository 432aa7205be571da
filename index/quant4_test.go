package index

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The kernel agrees with the Go loop on every nibble value and every query byte,
// including the extremes where its 16-bit pair sums are largest.
func TestDotInt4Kernel(t *testing.T) {
	if !useInt8SIMD {
		t.Skip("no AVX2 here: dotInt4 is the Go loop itself")
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for _, dim := range []int{64, 128, 384, 1536} {
		for round := range 200 {
			q, c := make([]int8, dim), make([]uint8, dim/2)
			for i := range q {
				switch round % 3 {
				case 0:
					q[i] = int8(rng.IntN(255) - 127)
				case 1: // every pair at its largest magnitude
					q[i] = 127
					if i%2 == 1 && rng.IntN(2) == 0 {
						q[i] = -127
					}
				default:
					q[i] = -127
				}
			}
			for i := range c {
				c[i] = uint8(rng.IntN(256))
				if round%3 != 0 {
					c[i] = 0x77 // the largest level in both nibbles
					if rng.IntN(2) == 0 {
						c[i] = 0xff
					}
				}
			}
			if got, want := dotInt4(q, c), dotInt4Go(q, c); got != want {
				t.Fatalf("dim %d round %d: kernel %d, Go %d", dim, round, got, want)
			}
		}
	}
}

// A vector's nibbles stand for it closely: each dimension decodes to the level
// nearest its own value, the code of a vector with itself is near its byte code's,
// and packing puts dimension j of a block in byte j's low nibble, 32+j in its high.
func TestQuantize4(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const dim = 384
	v := make([]float32, dim)
	for i := range v {
		if rng.IntN(3) == 0 { // sparse, as hashed features are
			v[i] = float32(rng.NormFloat64())
		}
	}
	v[7], v[100] = 9, -6 // a few large values
	code := make([]int8, dim)
	scale := quantize(v, code)
	nib := make([]uint8, dim/2)
	quantize4(v, scale, nib)
	decode := func(i int) int8 {
		b := nib[i/64*32+i%32]
		if i%64 >= 32 {
			b >>= 4
		}
		return table4[b&15]
	}
	for i, x := range v {
		got := float64(decode(i))
		want := float64(x / scale)
		for _, l := range levels4 {
			for _, s := range []float64{1, -1} {
				if math.Abs(want-s*float64(l)) < math.Abs(want-got)-1e-9 {
					t.Fatalf("dim %d (%v): decoded %v, level %v is nearer", i, want, got, s*float64(l))
				}
			}
		}
	}
	if decode(7) != 127 || decode(100) != -93 {
		t.Fatalf("the large values decode to %d and %d", decode(7), decode(100))
	}
	self8 := float64(dotInt8(code, code))
	self4 := float64(dotInt4(code, nib))
	if math.Abs(self4-self8)/self8 > 0.05 {
		t.Fatalf("a vector with itself: nibbles %v, bytes %v", self4, self8)
	}
	one := make([]float32, 128)
	one[33] = 1 // block 0, high half: byte 1's high nibble
	nib = make([]uint8, 64)
	quantize4(one, 1.0/127, nib)
	if nib[1] != 0x70 || nib[0] != 0 {
		t.Fatalf("dimension 33 packed as % x", nib[:4])
	}
}

// A search walks on nibbles where the dimensions pack (and on byte codes where they
// do not): the nibble distance stays close to the exact one, and the answers carry
// exact distances all the same.
func TestSearchWalksNibbles(t *testing.T) {
	for _, dim := range []int{384, 100} {
		d := clusteredData(7, 3000, 50, dim, 30, 0.7)
		h := buildHNSW(d, DefaultHNSWConfig())
		g := h.g
		packs := useInt8SIMD && dim%64 == 0
		if got, want := len(g.nibbles), 3000*dim/2; packs && got != want || !packs && g.nibbles != nil {
			t.Fatalf("dim %d: %d nibble bytes (packs: %v)", dim, got, packs)
		}
		var seen visitedSet
		var worst float64
		for i, q := range d.queries {
			p := g.searchProbe(Normalize(append([]float32(nil), q...)), &seen)
			if p.nibbles != packs {
				t.Fatalf("dim %d: the search probe walks nibbles: %v", dim, p.nibbles)
			}
			for j := range 20 {
				slot := uint32((i*20 + j) * 7 % len(g.ids))
				worst = max(worst, math.Abs(float64(g.distance(p, slot)-g.exactDistance(p.vec, slot))))
			}
			for _, r := range h.Search(q, 10, nil) {
				v := d.vectors[idNumber(r.ID)]
				if want := 1 - Dot(Normalize(append([]float32(nil), q...)), v); math.Abs(float64(r.Distance-want)) > 1e-5 {
					t.Fatalf("dim %d: %s at distance %v, exact %v", dim, r.ID, r.Distance, want)
				}
			}
		}
		t.Logf("dim %d: largest walk distance error %.4f", dim, worst)
		if worst > 0.03 {
			t.Fatalf("dim %d: a walk distance is off by %.4f", dim, worst)
		}
	}
}
