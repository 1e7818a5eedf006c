package atomicfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteFileMode(t *testing.T) {
	old := syscall.Umask(0o077) // the mode is exact, whatever the umask
	defer syscall.Umask(old)
	dir := t.TempDir()
	for _, perm := range []os.FileMode{0o600, 0o640, 0o644} {
		path := filepath.Join(dir, "f"+perm.String())
		if err := WriteFile(path, []byte("x"), perm); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != perm {
			t.Errorf("mode %v (%v), want %v", fi.Mode().Perm(), err, perm)
		}
	}
	// Replacing a file gives it perm too.
	path := filepath.Join(dir, "f"+os.FileMode(0o644).String())
	if err := WriteFile(path, []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after replacing, want 0600", fi.Mode().Perm())
	}
	assertNoTemp(t, dir)
}

// TestWriteFileReplaces: the path is replaced by a new file in one rename:
// a reader that opened the old file keeps reading it whole, the path never
// holds a part of the new content, and no temporary file is left.
func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := WriteFile(path, []byte("old content"), 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	f, err := Create(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Cleanup()
	if _, err := f.Write([]byte("new ")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path); got != "old content" {
		t.Errorf("while writing, the path holds %q", got)
	}
	if !strings.HasPrefix(filepath.Base(f.Name()), "state.tmp-") || filepath.Dir(f.Name()) != dir {
		t.Errorf("temporary file %s, want state.tmp-* beside the path", f.Name())
	}
	if _, err := f.Write([]byte("content")); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path); got != "new content" {
		t.Errorf("after Commit the path holds %q", got)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(reader); err != nil || b.String() != "old content" {
		t.Errorf("the old file's reader read %q (%v)", b.String(), err)
	}
	f.Cleanup() // after Commit: nothing to do
	if got := read(t, path); got != "new content" {
		t.Errorf("Cleanup after Commit: the path holds %q", got)
	}
	if err := f.Commit(); err == nil {
		t.Error("a second Commit succeeded")
	}
	assertNoTemp(t, dir)
}

// TestCloseThenCommit: a temporary file can be closed and checked by name
// before it is put in place.
func TestCloseThenCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "backup.db")
	f, err := Create(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Cleanup()
	if _, err := f.WriteString("copy"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if got := read(t, f.Name()); got != "copy" {
		t.Errorf("the closed temporary file holds %q", got)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the path exists before Commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path); got != "copy" {
		t.Errorf("after Commit the path holds %q", got)
	}
	assertNoTemp(t, dir)
}

// TestCleanup: a new content given up leaves the old file as it was and no
// temporary file.
func TestCleanup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, closeFirst := range []bool{false, true} {
		f, err := Create(path, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("half"); err != nil {
			t.Fatal(err)
		}
		if closeFirst {
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}
		f.Cleanup()
		f.Cleanup()
		if err := f.Commit(); err == nil {
			t.Error("Commit after Cleanup succeeded")
		}
		if got := read(t, path); got != "old" {
			t.Errorf("the path holds %q", got)
		}
		assertNoTemp(t, dir)
	}
}

// TestWriteFileOverDirectory: when the rename fails (the path is a folder)
// the temporary file is removed and the folder is left as it was.
func TestWriteFileOverDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "inside"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, []byte("x"), 0o600)
	var pe *os.LinkError
	if !errors.As(err, &pe) {
		t.Errorf("writing over a folder: %v, want the rename's *os.LinkError", err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("the folder is gone: %v", err)
	}
	assertNoTemp(t, dir)
}

// TestWriteFileReadOnlyFolder: in a folder that cannot be written nothing
// is created, and the error is the os package's.
func TestWriteFileReadOnlyFolder(t *testing.T) {
	if asNobody(t) {
		return // root writes in a read-only folder: run as another user
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	err := WriteFile(path, []byte("new"), 0o600)
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("read-only folder: %v, want a permission error", err)
	}
	if got := read(t, path); got != "old" {
		t.Errorf("the path holds %q", got)
	}
	assertNoTemp(t, dir)
}

func TestWriteFileNoFolder(t *testing.T) {
	err := WriteFile(filepath.Join(t.TempDir(), "none", "f"), []byte("x"), 0o600)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}

// TestCommitDirSyncFails: when the folder cannot be fsynced after the
// rename (here: it cannot be read), the new content is in place and the
// error says so by ErrDirSync, with the os package's text.
func TestCommitDirSyncFails(t *testing.T) {
	if asNobody(t) {
		return // root reads a folder of mode 0300: run as another user
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.Chmod(dir, 0o300); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	err := WriteFile(path, []byte("new"), 0o600)
	if !errors.Is(err, ErrDirSync) || !errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "atomicfile") {
		t.Errorf("unreadable folder: %v, want ErrDirSync and the permission error", err)
	}
	_ = os.Chmod(dir, 0o700)
	if got := read(t, path); got != "new" {
		t.Errorf("the path holds %q", got)
	}
	if err := WriteFile(filepath.Join(dir, "g"), nil, 0o600); errors.Is(err, ErrDirSync) || err != nil {
		t.Errorf("readable folder: %v", err)
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Error(err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("a temporary file is left: %s", e.Name())
		}
	}
}

// asNobody runs the calling test again in a child process as the user
// nobody (65534) when the tests run as root (make test does), for checks of
// permissions that root does not have to respect, and reports true: the
// child's result is the test's. As another user it reports false and the
// test goes on in this process.
func asNobody(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	dir, err := os.MkdirTemp("", "as-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	bin := filepath.Join(dir, "test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
	return true
}

// nobody is the uid and gid of the user nobody on Debian.
const nobody = 65534
