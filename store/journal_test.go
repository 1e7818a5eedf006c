package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// holdFlusher keeps the flusher from committing journaled writes until the
// returned function is called.
func (db *DB) holdFlusher() (release func()) {
	db.flushHeld.Store(true)
	return func() { db.flushHeld.Store(false) }
}

// journalSale writes sale ref through the journal.
func journalSale(t *testing.T, db *DB, ref string) {
	t.Helper()
	if err := db.Journaled(func(tx *Tx) error {
		if err := tx.CreateSale(testSale(ref, 2)); err != nil {
			return err
		}
		if err := tx.Enqueue(testCommand(ref, "create")); err != nil {
			return err
		}
		_, err := tx.AppendEvent(testEvent(ref, "created"))
		return err
	}); err != nil {
		t.Fatalf("Journaled %s: %v", ref, err)
	}
}

// snapshot copies the database and its journal as a power cut would leave
// them now: bbolt's last commit, and the journal's records. Holding jmu
// keeps the flusher from committing meanwhile.
func snapshot(t *testing.T, db *DB, dir string) string {
	t.Helper()
	db.jmu.Lock()
	defer db.jmu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "tillbox.db")
	copyFile(t, db.path, dst)
	copyFile(t, db.path+JournalSuffix, dst+JournalSuffix)
	return dst
}

func hasSales(t *testing.T, db *DB, refs ...string) []string {
	t.Helper()
	var missing []string
	mustView(t, db, func(tx *Tx) error {
		for _, ref := range refs {
			if _, err := tx.Sale(ref); errors.Is(err, ErrNotFound) {
				missing = append(missing, ref)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	return missing
}

// TestJournaledIsSeenAtOnce: a journaled write is seen by every later
// transaction, before and after the flusher commits it to bbolt.
func TestJournaledIsSeenAtOnce(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	stop := db.holdFlusher()
	defer stop()
	for i := range 5 {
		journalSale(t, db, fmt.Sprintf("ref-%d", i))
		if missing := hasSales(t, db, fmt.Sprintf("ref-%d", i)); len(missing) > 0 {
			t.Fatalf("right after Journaled, View does not see %v", missing)
		}
	}
	// An Update sees them (and takes them to bbolt).
	mustUpdate(t, db, func(tx *Tx) error {
		st, err := tx.Sale("ref-4")
		if err == nil && st.Reference != "ref-4" {
			t.Errorf("Update read %+v", st)
		}
		return err
	})
	if got := mustStats(t, db); got.Sales != 5 || got.Commands != 5 || got.LastSeq != 5 {
		t.Errorf("stats %+v, want 5 sales, 5 commands, last event 5", got)
	}
}

// TestJournalRecovery: the files as a power cut leaves them (bbolt's last
// commit and the journal) open with every journaled write in place; a torn
// last record is not replayed (its writer never returned); and a journal
// whose chain was made on another state of the database (an older backup
// restored in its place) is not replayed onto it.
func TestJournalRecovery(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "live"), 0o700); err != nil {
		t.Fatal(err)
	}
	db := openTestDB(t, filepath.Join(dir, "live", "tillbox.db"), Options{})
	journalSale(t, db, "ref-a")
	if err := db.flush(); err != nil { // ref-a in bbolt
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if err := db.BackupFile(backup); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.CreateSale(testSale("ref-b", 1)) })

	// Hold the flusher off: ref-c and ref-d stay in the journal only.
	stop := db.holdFlusher()
	journalSale(t, db, "ref-c")
	journalSale(t, db, "ref-d")
	cut := snapshot(t, db, filepath.Join(dir, "cut"))
	torn := snapshot(t, db, filepath.Join(dir, "torn"))
	pristine := snapshot(t, db, filepath.Join(dir, "pristine"))
	stop()

	t.Run("power cut", func(t *testing.T) {
		rdb := openTestDB(t, cut, Options{})
		if missing := hasSales(t, rdb, "ref-a", "ref-b", "ref-c", "ref-d"); len(missing) > 0 {
			t.Fatalf("after recovery, missing %v", missing)
		}
		if st := mustStats(t, rdb); st.Sales != 4 || st.Commands != 3 || st.LastSeq != 3 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("torn last record", func(t *testing.T) {
		j, err := os.ReadFile(torn + JournalSuffix)
		if err != nil {
			t.Fatal(err)
		}
		second := blocks(journalHdrSize + int(binary.BigEndian.Uint32(j[32:36])))
		j[second+journalHdrSize+10] ^= 0xff // inside ref-d's record, after ref-c's
		if err := os.WriteFile(torn+JournalSuffix, j, 0o600); err != nil {
			t.Fatal(err)
		}
		rdb := openTestDB(t, torn, Options{})
		if missing := hasSales(t, rdb, "ref-a", "ref-b", "ref-c"); len(missing) > 0 {
			t.Errorf("missing %v", missing)
		}
		if missing := hasSales(t, rdb, "ref-d"); len(missing) == 0 {
			t.Error("the torn record of ref-d was replayed")
		}
	})
	t.Run("older backup restored", func(t *testing.T) {
		restored := filepath.Join(dir, "restored", "tillbox.db")
		if err := os.MkdirAll(filepath.Dir(restored), 0o700); err != nil {
			t.Fatal(err)
		}
		copyFile(t, backup, restored)
		copyFile(t, pristine+JournalSuffix, restored+JournalSuffix)
		rdb := openTestDB(t, restored, Options{})
		if missing := hasSales(t, rdb, "ref-a"); len(missing) > 0 {
			t.Errorf("the backup lost %v", missing)
		}
		if missing := hasSales(t, rdb, "ref-b", "ref-c", "ref-d"); len(missing) != 3 {
			t.Errorf("the newer journal was replayed onto the older backup (missing only %v)", missing)
		}
	})
}

// TestJournalFull: when the journal has no room, the write commits to
// bbolt with everything pending, and the journal starts again.
func TestJournalFull(t *testing.T) {
	db, path := newTestDB(t, Options{})
	stop := db.holdFlusher()
	defer stop()
	n, most := 0, int32(0)
	for {
		journalSale(t, db, fmt.Sprintf("ref-%05d", n))
		n++
		p := db.npending.Load()
		if p == 0 {
			break // the write that did not fit committed to bbolt
		}
		most = max(most, p)
		if n > journalSize/journalBlock+1 {
			t.Fatalf("%d writes and the journal is not full (at %d)", n, db.journal.off)
		}
	}
	if most < 100 || db.journal.off != 0 {
		t.Fatalf("at most %d writes were pending; journal at %d after the commit", most, db.journal.off)
	}
	// All of it is in bbolt: a copy of the file alone has every sale.
	cut := snapshot(t, db, filepath.Join(filepath.Dir(path), "cut"))
	if err := os.Remove(cut + JournalSuffix); err != nil {
		t.Fatal(err)
	}
	rdb := openTestDB(t, cut, Options{})
	if st := mustStats(t, rdb); st.Sales != n {
		t.Fatalf("%d sales in bbolt, want %d", st.Sales, n)
	}
}

// fuzzJournal is a journal file of database 7 on txid 3 with a record per
// ops, cut after the last record's bytes (not padded to its block).
func fuzzJournal(f *testing.F, ops ...[]byte) []byte {
	path := filepath.Join(f.TempDir(), "j")
	fh, err := os.Create(path)
	if err != nil {
		f.Fatal(err)
	}
	j := &journal{f: fh, id: 7}
	j.restart(3)
	j.nonce = 0x0102030405060708 // the seeds are the same every run
	last := int64(0)
	for _, o := range ops {
		last = j.off + journalHdrSize + int64(len(o))
		if err := j.append(o); err != nil {
			f.Fatal(err)
		}
	}
	fh.Close()
	file, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return file[:last]
}

// FuzzReadChain: whatever the journal file holds, reading it neither
// panics nor yields a record that fails its checksum, and a record found
// after the chain's end always means the end was a bad record. The seeds
// are small (a record's header and ops, the next one a block further):
// thousands of inputs a second.
func FuzzReadChain(f *testing.F) {
	put, del := []byte{opPut, 1, 'm', 1, 'k', 1, 'v'}, []byte{opDelete, 1, 'm', 1, 'k'}
	f.Add(fuzzJournal(f, put))
	f.Add(fuzzJournal(f, put, del))
	damaged := fuzzJournal(f, put, del, put)
	damaged[journalBlock+journalHdrSize] ^= 0xff // record 2 of 3
	f.Add(damaged)
	torn := fuzzJournal(f, put, del)
	torn[journalBlock+journalHdrSize+2] ^= 0x01 // the last record
	f.Add(torn)
	f.Add([]byte(journalMagic))
	db, _ := newTestDB(f, Options{NoSync: true})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := readChain(bytesReaderAt(data), 7, 3)
		if err != nil {
			t.Fatal(err)
		}
		if c.damaged() && !c.endBad {
			t.Fatalf("records after the chain's end at %d, which is not a bad record", c.end)
		}
		_, _ = summarize(c)
		// What comes out applies or is refused, without a panic.
		_ = db.rolledBack(func(btx *bolt.Tx) error {
			for _, ops := range c.records {
				if replay(btx, ops) != nil {
					break
				}
			}
			for _, r := range c.later {
				if replay(btx, r.ops) != nil {
					break
				}
			}
			return nil
		})
	})
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
