package store

import (
	"fmt"
	"io"
	"os"

	"github.com/tillbox/tillbox/store/atomicfile"
)

// Backup writes a consistent copy of the database to w while it stays in
// use: the copy is the state of one moment (a read transaction), and
// writers go on meanwhile. It returns the number of bytes written. The copy
// is a complete database file: put it in place of the original to restore.
func (db *DB) Backup(w io.Writer) (int64, error) {
	// The copy is bbolt's file: the journaled writes go into it first, and
	// the read transaction starts before any other write can.
	db.jmu.Lock()
	if err := db.commitPendingLocked(); err != nil {
		db.jmu.Unlock()
		return 0, err
	}
	btx, err := db.bolt.Begin(false)
	db.jmu.Unlock()
	if err != nil {
		return 0, db.wrap("backup: ", err)
	}
	defer func() { _ = btx.Rollback() }()
	n, err := btx.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// BackupFile writes a backup to path atomically: to a temporary file in the
// same directory, fsynced, then renamed over path. path is either the
// previous complete backup or the new one, never a partial file.
func (db *DB) BackupFile(path string) error {
	if a, err1 := os.Stat(path); err1 == nil {
		if b, err2 := os.Stat(db.path); err2 == nil && os.SameFile(a, b) {
			return fmt.Errorf("store: backup to %s: that is the database itself: %w", path, ErrInvalid)
		}
	}
	f, err := atomicfile.Create(path, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer f.Cleanup()
	if _, err := db.Backup(f); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}
