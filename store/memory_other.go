//go:build !linux

package store

// releasePages does nothing here: the RSS of mapped pages is left to the OS.
func releasePages(uintptr, int64) error { return nil }
