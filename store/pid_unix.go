//go:build unix

package store

import (
	"errors"
	"syscall"
)

// processAlive reports whether pid names a running process (possibly of
// another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
