package index

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The byte kernel agrees with a plain loop at every length, including tails
// shorter than one 16-byte step and the extremes of the byte range.
func TestDotInt8(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 100, 384, 1536} {
		a, b := make([]int8, n), make([]int8, n)
		for i := range a {
			a[i], b[i] = int8(rng.IntN(255)-127), int8(rng.IntN(255)-127)
		}
		if n > 2 {
			a[0], b[0], a[1], b[1] = 127, 127, -127, 127
		}
		var want int32
		for i := range a {
			want += int32(a[i]) * int32(b[i])
		}
		if got := dotInt8(a, b); got != want {
			t.Fatalf("n=%d: dotInt8 %d, loop %d", n, got, want)
		}
	}
}

// Quantised dot products of unit vectors stay within 0.01 of the float ones.
func TestQuantizeError(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	const dim = 384
	worst := 0.0
	for range 200 {
		a, b := randomUnit(rng, dim), randomUnit(rng, dim)
		ca, cb := make([]int8, dim), make([]int8, dim)
		sa, sb := quantize(a, ca), quantize(b, cb)
		approx := float64(sa*sb) * float64(dotInt8(ca, cb))
		worst = math.Max(worst, math.Abs(approx-float64(Dot(a, b))))
	}
	if worst > 0.01 {
		t.Fatalf("worst error %.4f", worst)
	}
	if s := quantize(make([]float32, dim), make([]int8, dim)); s != 0 {
		t.Fatalf("zero vector scale %v", s)
	}
}
