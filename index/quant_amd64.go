package index

import "golang.org/x/sys/cpu"

// useInt8SIMD: the byte kernel needs AVX2. Without it the graph keeps floats
// only (a Go byte loop is slower than the float one it would replace).
var useInt8SIMD = cpu.X86.HasAVX2

// dotInt8AVX2 is in quant_amd64.s; n is a positive multiple of 16.
//
//go:noescape
func dotInt8AVX2(a, b *int8, n int) int32
