package index

import (
	"math"
	"unsafe"
)

// Graph walks compare the query with vectors read from all over memory, and at
// 100,000 vectors of 384 floats (150 MB) the time goes to fetching them, not to
// the arithmetic. So the graph also keeps each vector as 384 signed bytes with
// one scale (a quarter of the memory traffic): inserts walk on those, and a
// search's walk on the same at four bits a dimension (quant4.go), an eighth. The
// answers a walk returns are then scored again with the full vectors (see
// searchGraph), so quantisation can only change which candidates are found, never
// the scores.

// quantize writes v as bytes into code and returns the scale: v[i] ≈ scale*code[i].
func quantize(v []float32, code []int8) float32 {
	var peak float32
	for _, x := range v {
		peak = max(peak, float32(math.Abs(float64(x))))
	}
	if peak == 0 {
		clear(code)
		return 0
	}
	scale := peak / 127
	for i, x := range v {
		code[i] = int8(max(-127, min(127, math.Round(float64(x/scale)))))
	}
	return scale
}

// probe is one side of a graph distance: a query or a stored node.
type probe struct {
	vec   []float32
	code  []int8 // nil when the graph is not quantised
	scale float32
	// nibbles: distances read the stored vectors' nibbles (see quant4.go), not
	// their byte codes.
	nibbles bool
}

// dotInt8 returns the dot product of two equal-length byte vectors.
func dotInt8(a, b []int8) int32 {
	b = b[:len(a)]
	n := 0
	var s int32
	if useInt8SIMD && len(a) >= 16 {
		n = len(a) &^ 15
		s = dotInt8AVX2(&a[0], &b[0], n)
	}
	for i := n; i < len(a); i++ {
		s += int32(a[i]) * int32(b[i])
	}
	return s
}

// prefetchSlots is prefetchRows over a list of slots.
func prefetchSlots(base unsafe.Pointer, stride, size int, slots []uint32) {
	if len(slots) > 0 {
		prefetchRows(base, stride, size, unsafe.Pointer(unsafe.SliceData(slots)), 4, len(slots))
	}
}
