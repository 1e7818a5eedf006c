package store

// Journaled writes: durable with one fdatasync of the journal (journal.go),
// replayed into every later transaction until the flusher commits them to
// bbolt.

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Journaled is Update, durable with one fdatasync of the journal instead
// of a bbolt commit (see journal.go): for the writes a person waits for.
// Every transaction that starts after it returns nil sees its writes. fn
// must write through the Tx's methods only.
func (db *DB) Journaled(fn func(*Tx) error) (err error) {
	db.jmu.Lock()
	if db.journal == nil {
		db.jmu.Unlock()
		return db.Update(fn)
	}
	locked := true
	defer func() {
		if locked {
			db.jmu.Unlock()
		}
	}()
	btx, err := db.bolt.Begin(true)
	if err != nil {
		return db.wrap("begin: ", err)
	}
	open := true
	defer func() {
		if open {
			_ = btx.Rollback()
		}
	}()
	if err := db.replayPending(btx); err != nil {
		return err
	}
	ops := make([]byte, 0, 2048)
	tx := &Tx{btx: btx, path: db.path, ops: &ops}
	if err := fn(tx); err != nil {
		db.noteDamage(err)
		return err
	}
	switch {
	case len(ops) == 0:
		// Nothing written: nothing to make durable.
		open = false
		_ = btx.Rollback()
	case !db.journal.fits(ops):
		// The journal is full: this commit takes every pending write to
		// bbolt, and the journal starts again.
		txid := uint64(btx.ID())
		open = false
		if err := btx.Commit(); err != nil {
			return db.wrap("commit: ", err)
		}
		db.committed(txid)
	default:
		open = false
		_ = btx.Rollback()
		if err := db.journal.append(ops); err != nil {
			// Whether the record reached the disk is unknown: commit what
			// is pending, which makes the journal's chain stale (never
			// replayed), and write through bbolt from now on.
			_ = db.journal.f.Close()
			db.journal = nil
			if ferr := db.commitPendingLocked(); ferr != nil {
				db.log.Error("journal failed; so did committing the pending writes", "err", ferr)
			}
			return fmt.Errorf("store: journal: %w", err)
		}
		db.pending = append(db.pending, ops)
		db.npending.Add(1)
		if db.flushCh != nil {
			select {
			case db.flushCh <- struct{}{}:
			default:
			}
		}
	}
	locked = false
	db.jmu.Unlock()
	db.maybeReleaseMapping()
	tx.runOnCommit()
	return nil
}

// replayPending applies the journaled writes not yet in bbolt to btx.
func (db *DB) replayPending(btx *bolt.Tx) error {
	for _, ops := range db.pending {
		if err := replay(btx, ops); err != nil {
			return &CorruptError{Path: db.path, Reason: "a journaled write does not apply", Err: err}
		}
	}
	return nil
}

// committed notes a commit to bbolt as transaction txid, which took every
// pending write with it. The caller holds jmu.
func (db *DB) committed(txid uint64) {
	db.pending = nil
	db.npending.Store(0)
	if db.journal != nil {
		db.journal.restart(txid)
	}
}

// commitPendingLocked commits the pending journaled writes to bbolt. The
// caller holds jmu.
func (db *DB) commitPendingLocked() error {
	if len(db.pending) == 0 {
		return nil
	}
	var txid uint64
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		txid = uint64(btx.ID())
		return db.replayPending(btx)
	})
	if err != nil {
		return db.wrap("commit: ", err)
	}
	db.committed(txid)
	return nil
}

// flush commits the pending journaled writes to bbolt now.
func (db *DB) flush() error {
	db.jmu.Lock()
	defer db.jmu.Unlock()
	return db.commitPendingLocked()
}

// Journaled writes are committed to bbolt once no other has come for
// flushIdle, or as soon as flushMany are pending: a bbolt commit holds the
// write lock through its two fsyncs, and a scan or a payment request
// arriving meanwhile would wait for it.
const (
	flushIdle = 20 * time.Millisecond
	flushMany = 64
)

// flusher commits journaled writes to bbolt soon after they are made, all
// that arrived meanwhile in one commit, until Close.
func (db *DB) flusher(signals <-chan struct{}) {
	defer close(db.flushDone)
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	for {
		select {
		case _, ok := <-signals:
			if !ok {
				return
			}
			if db.npending.Load() < flushMany {
				idle.Reset(flushIdle)
				continue
			}
		case <-idle.C:
		}
		if db.npending.Load() == 0 || db.flushHeld.Load() {
			continue
		}
		if err := db.flush(); err != nil && !errors.Is(err, ErrClosed) {
			db.log.Error("commit of journaled writes failed (they stay in the journal)", "err", err)
		}
	}
}
