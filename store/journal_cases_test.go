package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func boltTxid(t *testing.T, db *DB) uint64 {
	t.Helper()
	var id uint64
	_ = db.bolt.View(func(tx *bolt.Tx) error { id = uint64(tx.ID()); return nil })
	return id
}

func rawOpen(t *testing.T, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

// R1: a stale chain at offset 0 is replayed once a restored backup's txid
// reaches the chain's base, if no journaled write came first.
func TestReviewRestoredBackupReachesOldBase(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	db := rawOpen(t, live, Options{})
	journalSale(t, db, "ref-a")
	if err := db.flush(); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if err := db.BackupFile(backup); err != nil {
		t.Fatal(err)
	}
	tb := boltTxid(t, db)
	for i := range 3 {
		mustUpdate(t, db, func(tx *Tx) error { return tx.CreateSale(testSale(fmt.Sprintf("ref-b%d", i), 1)) })
	}
	stop := db.holdFlusher()
	journalSale(t, db, "ref-c") // chain base = live txid
	base := db.journal.base
	cut := snapshot(t, db, filepath.Join(dir, "cut"))
	stop()
	db.Close()
	t.Logf("backup txid %d, live chain base %d", tb, base)

	// Restore: the backup in place of the database, the journal left beside it.
	rdir := filepath.Join(dir, "restored")
	os.MkdirAll(rdir, 0o700)
	restored := filepath.Join(rdir, "tillbox.db")
	copyFile(t, backup, restored)
	copyFile(t, cut+JournalSuffix, restored+JournalSuffix)
	rdb := rawOpen(t, restored, Options{})
	if m := hasSales(t, rdb, "ref-c"); len(m) == 0 {
		t.Fatal("replayed at once (unexpected)")
	}
	// The restored box works normally through Update/Batch (outbox, polls).
	for i := 0; boltTxid(t, rdb) < base; i++ {
		mustUpdate(t, rdb, func(tx *Tx) error { return tx.CreateSale(testSale(fmt.Sprintf("ref-x%d", i), 1)) })
	}
	rdb.Close() // clean stop
	rdb = rawOpen(t, restored, Options{})
	defer rdb.Close()
	if m := hasSales(t, rdb, "ref-c"); len(m) == 0 {
		t.Errorf("BUG: ref-c, a journaled write of the other timeline, was replayed onto the restored database")
	}
	if err := rdb.Verify(); err != nil {
		t.Errorf("Verify after: %v", err)
	}
}

// R2: same after compaction at Open, which resets bbolt's txid: an old,
// already applied chain comes back and resurrects a deleted command.
func TestReviewCompactionReplaysOldChain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tillbox.db")
	db := rawOpen(t, path, Options{CompactMinFree: -1})
	// Bulk that will be freed, so that the next Open compacts.
	mustUpdate(t, db, func(tx *Tx) error {
		b := tx.btx.Bucket([]byte(bucketCounters))
		for i := range 3000 {
			if err := b.Put([]byte(fmt.Sprintf("junk-%05d", i)), bytes.Repeat([]byte{1}, 1000)); err != nil {
				return err
			}
		}
		return nil
	})
	for i := range 40 { // advance txid
		mustUpdate(t, db, func(tx *Tx) error { _, err := tx.NextCounter(fmt.Sprint("c", i)); return err })
	}
	journalSale(t, db, "ref-old") // record at offset 0, with its create command
	base := db.journal.base
	if err := db.flush(); err != nil {
		t.Fatal(err)
	}
	// ref-old is settled: its command deleted, the sale final.
	mustUpdate(t, db, func(tx *Tx) error {
		cmds, err := tx.CommandsFor("ref-old")
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if err := tx.DeleteCommand(c.ID); err != nil {
				return err
			}
		}
		s, err := tx.Sale("ref-old")
		if err != nil {
			return err
		}
		s.State, s.Final, s.FinishedAt = "captured", true, t0
		return tx.PutSale(s)
	})
	mustUpdate(t, db, func(tx *Tx) error {
		b := tx.btx.Bucket([]byte(bucketCounters))
		for i := range 3000 {
			if err := b.Delete([]byte(fmt.Sprintf("junk-%05d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()

	db = rawOpen(t, path, Options{CompactMinFree: 1}) // compacts
	after := boltTxid(t, db)
	t.Logf("old chain base %d, txid after compaction %d", base, after)
	if after >= base {
		t.Skip("compaction did not reset txid below the old base")
	}
	for i := 0; boltTxid(t, db) < base; i++ {
		mustUpdate(t, db, func(tx *Tx) error { _, err := tx.NextCounter("poll"); return err })
	}
	db.Close()
	db = rawOpen(t, path, Options{CompactMinFree: -1})
	defer db.Close()
	var cmds []Command
	var s *Sale
	mustView(t, db, func(tx *Tx) error {
		var err error
		cmds, err = tx.CommandsFor("ref-old")
		if err != nil {
			return err
		}
		s, err = tx.Sale("ref-old")
		return err
	})
	if len(cmds) > 0 || s.State != "captured" {
		t.Errorf("BUG: old chain replayed after compaction: ref-old state %q, %d command(s) back in the outbox", s.State, len(cmds))
	}
	if err := db.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// R3: Backup while journaled writes are pending copies them too, from a
// read transaction on bbolt's committed state: restored with the journal
// left beside it, the chain made on that very state applies, and the file
// checks.
func TestReviewBackupWithPending(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	db := rawOpen(t, live, Options{})
	stop := db.holdFlusher()
	journalSale(t, db, "ref-a")
	if err := db.flush(); err != nil {
		t.Fatal(err)
	}
	journalSale(t, db, "ref-p") // pending while the backup runs
	var buf bytes.Buffer
	if _, err := db.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(backup, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	journalSale(t, db, "ref-q") // a chain made on the state the backup holds
	cut := snapshot(t, db, filepath.Join(dir, "cut"))
	stop()
	db.Close()

	bdb := rawOpen(t, backup, Options{NoJournal: true})
	if missing := hasSales(t, bdb, "ref-a", "ref-p"); len(missing) > 0 {
		t.Errorf("the backup lacks %v, pending when it was made", missing)
	}
	bdb.Close()

	rdir := filepath.Join(dir, "restored")
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(rdir, "tillbox.db")
	copyFile(t, backup, restored)
	copyFile(t, cut+JournalSuffix, restored+JournalSuffix)
	rdb := rawOpen(t, restored, Options{})
	defer rdb.Close()
	if missing := hasSales(t, rdb, "ref-a", "ref-p", "ref-q"); len(missing) > 0 {
		t.Errorf("restored with its journal, missing %v", missing)
	}
	if err := rdb.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// R4: a migration runs before the journal is replayed: a future V3 would
// lose the journaled writes of a crash before the upgrade.
func TestReviewMigrationBeforeReplay(t *testing.T) {
	dir := t.TempDir()
	db := rawOpen(t, filepath.Join(dir, "tillbox.db"), Options{})
	stop := db.holdFlusher()
	journalSale(t, db, "ref-m")
	cut := snapshot(t, db, filepath.Join(dir, "cut"))
	stop()
	db.Close()
	v3 := func(tx *bolt.Tx) error { return nil }
	rdb, err := open(cut, Options{}, append(schema(), v3))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if m := hasSales(t, rdb, "ref-m"); len(m) > 0 {
		t.Errorf("BUG: the journaled sale ref-m is lost when the next Open migrates first")
	}
}

// R5: Close racing Journaled.
func TestReviewCloseRacesJournaled(t *testing.T) {
	for round := range 200 {
		db, _ := func() (*DB, string) {
			path := filepath.Join(t.TempDir(), "tillbox.db")
			return rawOpen(t, path, Options{}), path
		}()
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					_ = db.Journaled(func(tx *Tx) error {
						_, err := tx.NextCounter(fmt.Sprint("g", g, "-", i))
						return err
					})
				}
			}()
		}
		db.Close()
		wg.Wait()
		_ = round
	}
}
