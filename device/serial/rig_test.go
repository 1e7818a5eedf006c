package serial

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/creack/pty"
	xterm "golang.org/x/term"

	"github.com/tillbox/tillbox/device"
)

// rig is a scanner on a pty: the test writes to the master side what the
// scanner would send; the driver opens the slave side, through a symlink
// that stays in place across unplug and replug, like /dev/serial/by-id.
type rig struct {
	t      testing.TB
	link   string
	master *os.File
	tty    *os.File
}

func newRig(t testing.TB) *rig {
	r := &rig{t: t, link: filepath.Join(t.TempDir(), "scanner")}
	r.plug()
	t.Cleanup(r.unplug)
	return r
}

// plug makes a new pty and points the link at it.
func (r *rig) plug() {
	r.t.Helper()
	master, tty, err := pty.Open()
	if err != nil {
		r.t.Fatalf("opening a pty: %v", err)
	}
	// Raw at once, so that nothing the test writes before the driver opens
	// the port is cooked or echoed.
	if _, err := xterm.MakeRaw(int(tty.Fd())); err != nil {
		r.t.Fatal(err)
	}
	tmp := r.link + ".new"
	if err := os.Symlink(tty.Name(), tmp); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, r.link); err != nil {
		r.t.Fatal(err)
	}
	r.master, r.tty = master, tty
}

// unplug closes both sides of the pty: the driver's reads fail.
func (r *rig) unplug() {
	if r.master != nil {
		r.master.Close()
		r.tty.Close()
		r.master, r.tty = nil, nil
	}
}

func (r *rig) path() string { return r.tty.Name() }

func (r *rig) write(s string) {
	r.t.Helper()
	if _, err := r.master.Write([]byte(s)); err != nil {
		r.t.Fatalf("writing to the pty: %v", err)
	}
}

// waitFor polls cond until it holds, for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// next receives the next scan, failing after 5 s.
func next(t testing.TB, s *Scanner) device.Scan {
	t.Helper()
	select {
	case sc, ok := <-s.Scans():
		if !ok {
			t.Fatal("Scans closed")
		}
		return sc
	case <-time.After(5 * time.Second):
		t.Fatalf("no scan within 5 s; status %+v", s.Status())
	}
	panic("unreachable")
}

// none checks that no scan arrives within d.
func none(t testing.TB, s *Scanner, d time.Duration) {
	t.Helper()
	select {
	case sc := <-s.Scans():
		t.Fatalf("unexpected scan %q", sc.Data)
	case <-time.After(d):
	}
}
