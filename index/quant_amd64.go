package index

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useInt8SIMD: the byte kernel needs AVX2. Without it the graph keeps floats
// only (a Go byte loop is slower than the float one it would replace).
var useInt8SIMD = cpu.X86.HasAVX2

// dotInt8AVX2 is in quant_amd64.s; n is a positive multiple of 16.
//
//go:noescape
func dotInt8AVX2(a, b *int8, n int) int32

// hasPrefetch: prefetchRows issues real prefetch instructions here.
const hasPrefetch = true

// prefetchRows asks the CPU to start loading, for each of n slot numbers (the
// uint32s at slots, slots+step, ...), every cache line of the size bytes at
// base+slot*stride (size > 0), without waiting for them: the search goes on
// computing while they arrive. A prefetch of a bad address does not fault, but
// every caller passes rows of one live array.
//
//go:noescape
func prefetchRows(base unsafe.Pointer, stride, size int, slots unsafe.Pointer, step, n int)

// dotInt4AVX2 is in quant_amd64.s; n (the dimensions) is a positive multiple of
// 64, c holds n/2 bytes, table the nibbles' values.
//
//go:noescape
func dotInt4AVX2(q *int8, c *uint8, table *[16]int8, n int) int32
