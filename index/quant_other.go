//go:build !amd64

package index

const useInt8SIMD = false

func dotInt8AVX2(a, b *int8, n int) int32 { panic("index: no AVX2 kernel on this architecture") }
