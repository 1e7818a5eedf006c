package store

import "syscall"

// releasePages drops the mapping's pages from this process (MADV_DONTNEED on
// a shared file mapping: the data stays in the page cache and in the file).
func releasePages(addr uintptr, size int64) error {
	if size <= 0 {
		return nil
	}
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(size), syscall.MADV_DONTNEED)
	if errno != 0 {
		return errno
	}
	return nil
}
