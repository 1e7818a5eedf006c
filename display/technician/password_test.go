package technician_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/display/technician"
)

func TestPasswordHash(t *testing.T) {
	h, err := technician.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$") || strings.Contains(h, password) {
		t.Errorf("hash %q", h)
	}
	h2, _ := technician.HashPassword(password)
	if h == h2 {
		t.Errorf("two hashes of one password are equal: no salt")
	}
	if err := technician.CheckPassword(h, password); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := technician.CheckPassword(h, password+"x"); !errors.Is(err, technician.ErrMismatch) {
		t.Errorf("wrong password: %v", err)
	}
	if err := technician.CheckPassword("$2b$10$notargon", password); err == nil || errors.Is(err, technician.ErrMismatch) {
		t.Errorf("not a hash: %v", err)
	}
	if _, err := technician.HashPassword("short"); err == nil {
		t.Errorf("a short password was accepted")
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	if h, err := technician.ReadPasswordFile(dir); h != "" || err != nil {
		t.Fatalf("no file: %q, %v", h, err)
	}
	h, _ := technician.HashPassword(password)
	if err := technician.WritePasswordFile(dir, h); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, technician.PasswordFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), password) {
		t.Errorf("the file holds the password")
	}
	if got, err := technician.ReadPasswordFile(dir); got != h || err != nil {
		t.Errorf("read back %q, %v", got, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := technician.ReadPasswordFile(dir); err == nil {
		t.Errorf("a world-readable password file was accepted")
	}
	if err := technician.WritePasswordFile(dir, "plain password"); err == nil {
		t.Errorf("a password was written as its hash")
	}
}
