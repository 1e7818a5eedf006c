//go:build linux && (amd64 || arm64)

package bench

import (
	"os"
	"syscall"
)

// evict writes path's dirty pages and drops the file from the page cache
// (POSIX_FADV_DONTNEED), so that the next reader reads the disk.
func evict(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return err
	}
	const fadvDontNeed = 4
	_, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
