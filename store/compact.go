package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tillbox/tillbox/store/atomicfile"
)

// compactTxSize bounds each transaction of a compaction, and so its memory.
const compactTxSize = 8 << 20

// Compaction policy: bbolt never shrinks a file; pages freed by Prune are
// reused by later writes, so a steady shop needs no compaction at all. After
// a large Prune (a first one, or a shorter retention) the free pages may
// dominate the file; Open then rewrites it into a new file and renames that
// over the old one, before anything else uses the database. The threshold
// (Options.CompactMinFree and at least half the file free) keeps compaction
// rare, so the start-up time of a normal open does not pay for it.

// compactIfSparse compacts the open database if its free pages dominate it.
func (db *DB) compactIfSparse() error {
	if db.opts.CompactMinFree < 0 {
		return nil
	}
	fi, err := os.Stat(db.path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	bs := db.bolt.Stats()
	free := int64(bs.FreePageN+bs.PendingPageN) * int64(db.pageSize)
	if free < db.opts.CompactMinFree || 2*free < fi.Size() {
		return nil
	}
	start := time.Now()
	tmp := db.path + ".compact"
	_ = os.Remove(tmp) // left by a compaction that died; the original was kept
	if err := compactInto(db.bolt, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: compact %s: %w", db.path, err)
	}
	if err := os.Rename(tmp, db.path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: compact %s: %w", db.path, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(db.path)); err != nil {
		return fmt.Errorf("store: compact %s: %w", db.path, err)
	}
	// The old file is unlinked; release it and open the compacted one.
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: compact %s: %w", db.path, err)
	}
	bdb, err := openWritable(db.path, db.opts)
	if err != nil {
		return err
	}
	db.bolt = bdb
	db.writePID()
	var after int64
	if fi, err := os.Stat(db.path); err == nil {
		after = fi.Size()
	}
	db.log.Info("database compacted", "before", fi.Size(), "after", after, "free", free, "took", time.Since(start))
	return nil
}

// compactInto copies src into a new file at dst, fsynced.
func compactInto(src *bolt.DB, dst string) error {
	d, err := bolt.Open(dst, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		return err
	}
	err = bolt.Compact(d, src, compactTxSize)
	if err == nil {
		// A new journal id: bbolt's transaction ids start again in the
		// copy, so records made on the original (whose id they carry)
		// must never be taken for records made on the copy.
		err = d.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket([]byte(bucketMeta))
			if meta == nil || meta.Get([]byte(keyJournalID)) == nil {
				return nil
			}
			return meta.Put([]byte(keyJournalID), u64Key(newJournalID()))
		})
	}
	if err == nil {
		err = d.Sync()
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Compact writes a compacted copy of the database at src to dst, which must
// not exist, for tools working on a stopped tillbox (a running one compacts
// its file at start when that pays). src is only read; if a tillbox holds
// it, Compact returns a [*LockedError]. Install the copy by renaming it over
// src while tillbox is stopped.
func Compact(src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("store: compact to %s: %w", dst, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: compact: %w", err)
	}
	if _, err := inspect(src, DefaultTimeout, uint64(len(schema()))); err != nil {
		return err
	}
	s, err := openBolt(src, &bolt.Options{ReadOnly: true, Timeout: DefaultTimeout})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := compactInto(s, dst); err != nil {
		_ = os.Remove(dst)
		return fmt.Errorf("store: compact %s: %w", src, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	return nil
}
