package index

// Dot returns the dot product of a and b over the length of the shorter one.
//
// The loop is unrolled by eight into four independent accumulators: the Go
// compiler does not vectorise, but independent sums let the CPU overlap the
// floating-point adds instead of waiting on one long dependency chain, and the
// re-slicing to fixed-length windows removes the bounds checks from the loop.
func Dot(a, b []float32) float32 {
	n := len(a)
	if len(b) < n {
		n = len(b)
	}
	a, b = a[:n], b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		x := a[i : i+8 : i+8]
		y := b[i : i+8 : i+8]
		s0 += x[0]*y[0] + x[4]*y[4]
		s1 += x[1]*y[1] + x[5]*y[5]
		s2 += x[2]*y[2] + x[6]*y[6]
		s3 += x[3]*y[3] + x[7]*y[7]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
