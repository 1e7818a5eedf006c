//go:build !(linux && (amd64 || arm64))

package bench

// evict is implemented where fadvise64 takes 64-bit arguments in single
// registers; elsewhere the cold start-up is skipped.
func evict(path string) error { return errUnsupported }
