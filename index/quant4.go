package index

import "math"

// A walk at 100,000 vectors spends its time waiting for the codes of the nodes it
// compares, and the time per comparison follows the bytes read (half the bytes,
// half the time: BENCHMARKS.md). So a query's walk reads each stored vector as
// four bits a dimension, half the bytes of its code: a nibble holds a sign and a
// magnitude of 0–7 standing for one of levels4, in the same units as the byte
// code (the vector's peak is 127), so one scale serves both. The levels grow
// quadratically: vectors from hashed features are mostly zeros and small values
// with a few large ones, and the large ones (rare words) decide a match, so they
// keep their size within a few percent while the small ones are told from zero.
// The query keeps its full byte code, and the answers are scored again from the
// full vectors, as for byte walks.

// levels4 are the magnitudes of the eight nibble values 0–7 (8–15 are the same,
// negated).
var levels4 = [8]int8{0, 3, 10, 23, 41, 65, 93, 127}

// midpoints4[k] lies halfway between levels4[k] and levels4[k+1]: a magnitude
// above it is nearer the higher level.
var midpoints4 = func() (m [len(levels4) - 1]float64) {
	for k := range m {
		m[k] = (float64(levels4[k]) + float64(levels4[k+1])) / 2
	}
	return m
}()

// table4 maps a nibble to its signed value, as the kernel looks it up.
var table4 = func() (t [16]int8) {
	for m, l := range levels4 {
		t[m], t[8+m] = l, -l
	}
	return t
}()

// blocks of 64 dimensions are packed in 32 bytes: byte j holds dimension j in its
// low nibble and dimension 32+j in its high one, so the kernel unpacks a block with
// one shift and two masks.
const block4 = 64

// packs4 reports whether vectors of dim dimensions can be walked as nibbles.
func packs4(dim int) bool { return dim > 0 && dim%block4 == 0 }

// quantize4 writes v, given its byte-code scale (peak/127, see quantize), as
// nibbles into code (len(v)/2 bytes).
func quantize4(v []float32, scale float32, code []uint8) {
	clear(code)
	if scale == 0 {
		return
	}
	for i, x := range v {
		t := math.Abs(float64(x / scale))
		m := 0 // the nearest level (the lower one on a tie)
		for m < len(midpoints4) && t > midpoints4[m] {
			m++
		}
		if m != 0 && x < 0 {
			m |= 8
		}
		b, shift := i/block4*(block4/2)+i%(block4/2), uint(0)
		if i%block4 >= block4/2 {
			shift = 4
		}
		code[b] |= uint8(m) << shift
	}
}

// dotInt4 returns the dot product of a byte code q with a nibble code c of the
// same dimensions (len(q) a multiple of block4, len(c) = len(q)/2).
func dotInt4(q []int8, c []uint8) int32 {
	c = c[:len(q)/2]
	if useInt8SIMD {
		return dotInt4AVX2(&q[0], &c[0], &table4, len(q))
	}
	return dotInt4Go(q, c)
}

// dotInt4Go is dotInt4 in Go, the reference the kernel is tested against.
func dotInt4Go(q []int8, c []uint8) int32 {
	var s int32
	for b := 0; b < len(q); b += block4 {
		qb, cb := q[b:b+block4], c[b/2:b/2+block4/2]
		for j, packed := range cb {
			s += int32(qb[j])*int32(table4[packed&15]) + int32(qb[block4/2+j])*int32(table4[packed>>4])
		}
	}
	return s
}
