//go:build !amd64

package index

import "unsafe"

const useInt8SIMD = false

func dotInt8AVX2(a, b *int8, n int) int32 { panic("index: no AVX2 kernel on this architecture") }

// hasPrefetch is false: walks touch memory with plain loads instead (see touch).
const hasPrefetch = false

func prefetchRows(base unsafe.Pointer, stride, size int, slots unsafe.Pointer, step, n int) {}

func dotInt4AVX2(q *int8, c *uint8, table *[16]int8, n int) int32 {
	panic("index: no AVX2 kernel on this architecture")
}
