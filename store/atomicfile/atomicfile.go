// Package atomicfile replaces files atomically: a reader, or the box after a
// power cut, finds either the old file or the whole new one, never a part.
//
// The new content goes to a temporary file in the same folder (so that the
// rename stays on one filesystem), which gets its mode before anything is
// written, is fsynced, renamed over the path, and the folder is fsynced so
// that the rename itself survives a power cut. On failure the temporary
// file is removed and the old file is left as it was.
//
// It imports only the standard library: every part of tillbox may use it.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data, with mode perm (exactly: the umask
// does not apply). Errors are those of the os package, unwrapped.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// File is the new content of a path, written to a temporary file beside it
// until Commit puts it in place. Write to it (it is an *os.File: an
// io.WriterTo can write into it, a check can open it by Name), then Commit;
// defer Cleanup to remove it when something fails before.
type File struct {
	*os.File
	path   string
	closed bool
	done   bool // committed or cleaned up
}

// Create starts a new content of path: a temporary file in path's folder,
// named after path with ".tmp-" and a random suffix, with mode perm.
func Create(path string, perm os.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	return &File{File: f, path: path}, nil
}

// Close fsyncs and closes the temporary file without putting it in place,
// for a check that opens it by Name before Commit. It may be called once;
// Commit calls it when it was not.
func (f *File) Close() error {
	if f.closed {
		return os.ErrClosed
	}
	f.closed = true
	err := f.File.Sync()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}

// Commit puts the new content in place: it closes the temporary file
// (fsynced) if Close was not called, renames it over the path and fsyncs
// the folder. When the rename fails the temporary file is removed and the
// path is as it was; when only the folder's fsync fails, the new content is
// in place but its rename might not survive a power cut, and the error is
// also ErrDirSync.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: " + f.path + " was already committed or cleaned up")
	}
	var err error
	if !f.closed {
		err = f.Close()
	}
	if err == nil {
		err = os.Rename(f.Name(), f.path)
	}
	if err != nil {
		f.Cleanup()
		return err
	}
	f.done = true
	if err := SyncDir(filepath.Dir(f.path)); err != nil {
		return dirSyncError{err}
	}
	return nil
}

// ErrDirSync is in the chain of Commit's error when the new content is in
// place and only the folder's fsync failed (the error's text is the
// fsync's): a caller for which the rename's durability is best effort may
// ignore it.
var ErrDirSync = errors.New("atomicfile: the folder was not fsynced")

type dirSyncError struct{ err error }

func (e dirSyncError) Error() string   { return e.err.Error() }
func (e dirSyncError) Unwrap() []error { return []error{e.err, ErrDirSync} }

// Cleanup removes the temporary file unless it was committed. It is safe
// to call more than once and after Commit: defer it after Create.
func (f *File) Cleanup() {
	if f.done {
		return
	}
	f.done = true
	if !f.closed {
		f.closed = true
		_ = f.File.Close()
	}
	_ = os.Remove(f.Name())
}

// SyncDir fsyncs the folder dir, so that a file created, renamed or
// removed in it stays so after a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
