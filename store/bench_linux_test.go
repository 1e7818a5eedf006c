package store

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRawWriteFdatasync is the floor for a durable write on this disk:
// append 1 KiB to a file and fdatasync it.
func BenchmarkRawWriteFdatasync(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := fdatasync(f); err != nil {
			b.Fatal(err)
		}
	}
}
