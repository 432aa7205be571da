package index

import (
	"syscall"
	"unsafe"
)

// adviseHugePages asks Linux to back v with 2 MiB pages where it can. A search
// reads vectors at random across the whole array; with 4 KiB pages nearly every
// vector read also misses the TLB. Only the 2 MiB-aligned interior is advised;
// where transparent huge pages are off, or v is small, this does nothing.
func adviseHugePages[T any](v []T) {
	const huge = 2 << 20
	size := uintptr(len(v)) * unsafe.Sizeof(*new(T))
	if size < 2*huge {
		return
	}
	base := unsafe.Pointer(unsafe.SliceData(v))
	start := uintptr(base)
	end := start + size
	from := (start + huge - 1) &^ (huge - 1)
	to := end &^ (huge - 1)
	if to <= from {
		return
	}
	_ = syscall.Madvise(unsafe.Slice((*byte)(unsafe.Add(base, from-start)), to-from), madvHugePage)
}

const madvHugePage = 14 // MADV_HUGEPAGE
