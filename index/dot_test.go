package index

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDotMatchesNaiveSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 100, 384, 1536} {
		a, b := make([]float32, n), make([]float32, n)
		var want float64
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			want += float64(a[i]) * float64(b[i])
		}
		got := Dot(a, b)
		if math.Abs(float64(got)-want) > 1e-4*math.Max(1, math.Abs(want)) {
			t.Errorf("n=%d: Dot = %v, want %v", n, got, want)
		}
	}
}

func TestDotUsesShorterLength(t *testing.T) {
	if got := Dot([]float32{1, 2, 3}, []float32{4, 5}); got != 14 {
		t.Fatalf("Dot = %v, want 14", got)
	}
}

func TestNormalize(t *testing.T) {
	v := Normalize([]float32{3, 4})
	if math.Abs(float64(v[0])-0.6) > 1e-6 || math.Abs(float64(v[1])-0.8) > 1e-6 {
		t.Fatalf("Normalize = %v, want [0.6 0.8]", v)
	}
	zero := Normalize([]float32{0, 0})
	if zero[0] != 0 || zero[1] != 0 {
		t.Fatalf("Normalize(zero) = %v, want zeros", zero)
	}
}

// The SIMD and Go kernels agree to float32 rounding on every length.
func TestDotKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 0; n <= 400; n++ {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = rng.Float32()*2-1, rng.Float32()*2-1
		}
		got, want := Dot(a, b), dotGo(a, b)
		if d := got - want; d > 1e-4 || d < -1e-4 {
			t.Fatalf("n=%d: Dot %v, Go kernel %v", n, got, want)
		}
	}
}
