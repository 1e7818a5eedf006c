package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// A second Open of the same file, in this process, is refused within about
// Timeout and names this process.
func TestLockedSameProcess(t *testing.T) {
	db, path := newTestDB(t, Options{})
	start := time.Now()
	_, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	took := time.Since(start)
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second Open = %v, want a *LockedError", err)
	}
	if le.PID != os.Getpid() || !le.Self {
		t.Errorf("LockedError = %+v, want this process (%d)", le, os.Getpid())
	}
	if took < 100*time.Millisecond || took > 2*time.Second {
		t.Errorf("second Open gave up after %v, want about 200ms", took)
	}
	t.Log(err)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	openTestDB(t, path, Options{})
}

// The real case: another tillbox holds the file.
func TestLockedOtherProcess(t *testing.T) {
	path := t.TempDir() + "/tillbox.db"
	child, stdin, out := startChild(t, "hold", path)
	if !out.Scan() || out.Text() != "ready" {
		t.Fatalf("child did not get ready: %q %v", out.Text(), out.Err())
	}
	start := time.Now()
	_, err := Open(path, Options{Timeout: 300 * time.Millisecond})
	took := time.Since(start)
	want := fmt.Sprintf("database %s is locked by another tillbox (pid %d)", path, child.Process.Pid)
	if err == nil || err.Error() != want {
		t.Errorf("Open = %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("errors.Is(%v, ErrLocked) = false", err)
	}
	if took > 2*time.Second {
		t.Errorf("Open gave up after %v, want about 300ms", took)
	}

	// Once the holder has gone, the file opens.
	stdin.Close()
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	openTestDB(t, path, Options{})
}

// A pid file left by a holder that died does not stop anyone: the lock is
// the kernel's and died with it.
func TestStalePIDFile(t *testing.T) {
	path := t.TempDir() + "/tillbox.db"
	if err := os.WriteFile(pidPath(path), []byte("2147483646\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := openTestDB(t, path, Options{})
	if pid, _ := readPID(path); pid != os.Getpid() {
		t.Errorf("pid file says %d, want %d", pid, os.Getpid())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pidPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after Close: %v, want it removed", err)
	}
}

func TestLockedErrorWithoutPID(t *testing.T) {
	e := &LockedError{Path: "/var/lib/tillbox/tillbox.db"}
	if got, want := e.Error(), "database /var/lib/tillbox/tillbox.db is locked by another process (pid unknown)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = &LockedError{Path: "/var/lib/tillbox/tillbox.db", PID: 1234}
	if got, want := e.Error(), "database /var/lib/tillbox/tillbox.db is locked by another tillbox (pid "+strconv.Itoa(1234)+")"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
