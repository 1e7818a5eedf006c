package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/config"
)

// TestReadSecretFile: relative to the directory, trimmed, world-readable
// told; a missing or empty file is an error naming the path, never a
// secret.
func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s"), []byte("  sup3r-secret\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	v, path, everyone, err := config.ReadSecretFile(dir, "s")
	if err != nil || v != "sup3r-secret" || path != filepath.Join(dir, "s") || everyone {
		t.Errorf("%q %q %v %v", v, path, everyone, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, everyone, err = config.ReadSecretFile("/elsewhere", path); err != nil || !everyone {
		t.Errorf("absolute, mode 0644: %v %v, want read and every user can read it", everyone, err)
	}
	if err := os.WriteFile(path, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err = config.ReadSecretFile(dir, "s"); err == nil || err.Error() != path+" is empty" {
		t.Errorf("empty: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if _, _, _, err = config.ReadSecretFile(dir, "missing"); err == nil || !strings.HasPrefix(err.Error(), "cannot read "+missing+": ") || strings.Count(err.Error(), missing) != 1 {
		t.Errorf("missing: %v", err)
	}
}
