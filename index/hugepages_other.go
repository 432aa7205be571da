//go:build !linux

package index

// adviseHugePages is a Linux feature; elsewhere the system decides alone.
func adviseHugePages[T any]([]T) {}
