package store

import (
	"os"
	"strconv"
	"strings"
)

// The holder of the lock records its pid in "<path>.pid" once it holds the
// lock, so that a second tillbox can name it. The file is informational: the
// lock itself is bbolt's flock on the database file, which the kernel
// releases when the holder dies, so a stale pid file never blocks anyone.

func pidPath(path string) string { return path + ".pid" }

// writePID records this process as the holder. Failing to is not fatal: the
// lock still works, only the error message of a second tillbox gets poorer.
// It is renamed into place but not fsynced (not store/atomicfile): it need
// not survive a power cut, and opening the store pays no fsync for it.
func (db *DB) writePID() {
	p := pidPath(db.path)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		db.log.Warn("cannot write the pid file", "path", p, "err", err)
		return
	}
	if err := os.Rename(tmp, p); err != nil {
		db.log.Warn("cannot write the pid file", "path", p, "err", err)
		_ = os.Remove(tmp)
	}
}

// removePID removes the pid file if it still names this process.
func (db *DB) removePID() {
	if pid, _ := readPID(db.path); pid == os.Getpid() {
		_ = os.Remove(pidPath(db.path))
	}
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(pidPath(path))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// lockedError describes the lock holder of path as well as is known.
func lockedError(path string) *LockedError {
	e := &LockedError{Path: path}
	if pid, err := readPID(path); err == nil && pid > 0 && processAlive(pid) {
		e.PID = pid
		e.Self = pid == os.Getpid()
	}
	return e
}
