package store

import (
	"errors"
	"syscall"
)

// Unwritable reports whether err means the disk refused a write: it is full, over
// quota, read-only or failing. Such a write was rolled back by bbolt and changed
// nothing; reads keep working, and writes work again once the disk does, so callers
// answer "unavailable, retry later" rather than "internal error".
func Unwritable(err error) bool {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}
