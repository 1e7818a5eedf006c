package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damagedJournal leaves in dir the files a SIGKILL leaves with n journaled
// sales (ref-00 … ) not yet in bbolt, the byte at+ of record rec flipped.
func damagedJournal(t *testing.T, dir string, n, rec, at int) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "live"), 0o700); err != nil {
		t.Fatal(err)
	}
	db := openTestDB(t, filepath.Join(dir, "live", "tillbox.db"), Options{})
	stop := db.holdFlusher()
	defer stop()
	for i := range n {
		journalSale(t, db, fmt.Sprintf("ref-%02d", i))
	}
	if db.journal.off != int64(n*journalBlock) {
		t.Fatalf("the records are not one block each: journal at %d after %d", db.journal.off, n)
	}
	cut := snapshot(t, db, filepath.Join(dir, "cut"))
	j, err := os.ReadFile(cut + JournalSuffix)
	if err != nil {
		t.Fatal(err)
	}
	j[(rec-1)*journalBlock+at] ^= 0x20
	if err := os.WriteFile(cut+JournalSuffix, j, 0o600); err != nil {
		t.Fatal(err)
	}
	return cut
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestJournalDamagedRecordRefusesOpen: a flipped byte in record 2 of 40 (in
// its body, or in its header) is damage, not a torn write: records 3 to 40
// were acknowledged. Open refuses with an error naming the journal, the
// record and the command that salvages it, logs an ERROR naming the sales,
// and leaves both files byte for byte as they were.
func TestJournalDamagedRecordRefusesOpen(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec, at int
	}{
		{"record 2 body", 2, journalHdrSize + 20},
		{"record 2 sequence number", 2, 30},
		{"record 2 nonce", 2, 14},
		{"record 1 body", 1, journalHdrSize + 20},
		{"record 1 magic", 1, 1},
		{"record 1 nonce", 1, 14},
		{"record 1 base txid", 1, 27},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec
			cut := damagedJournal(t, t.TempDir(), 40, rec, tc.at)
			dbSum, jSum := fileSum(t, cut), fileSum(t, cut+JournalSuffix)
			var log bytes.Buffer
			db, err := Open(cut, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
			if err == nil {
				db.Close()
				t.Fatal("Open replayed a journal with a damaged record inside its chain")
			}
			var jerr *JournalError
			if !errors.As(err, &jerr) || !errors.Is(err, ErrJournalDamaged) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want a *JournalError", err)
			}
			if int(jerr.Record) != rec || jerr.Valid != rec-1 || len(jerr.Later) != 40-rec || len(jerr.Sales) != 41-rec || jerr.Sales[40-rec] != "ref-39" {
				t.Errorf("record %d, %d valid before, %d after, sales %v", jerr.Record, jerr.Valid, len(jerr.Later), jerr.Sales)
			}
			msg := err.Error()
			for _, want := range []string{cut + JournalSuffix, fmt.Sprintf("record %d ", rec), "tillbox repair journal --db " + cut, "left untouched", "ref-02", " more)"} {
				if !strings.Contains(msg, want) {
					t.Errorf("the error does not say %q:\n%s", want, msg)
				}
			}
			if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "ref-39") {
				t.Errorf("no ERROR naming the sales in the log:\n%s", log.String())
			}
			if fileSum(t, cut) != dbSum || fileSum(t, cut+JournalSuffix) != jSum {
				t.Error("Open changed the database or the journal it refused")
			}
		})
	}
}

// TestJournalTornLastRecordIsDropped: the same flipped byte in the last
// record of 40 is a torn write (its writer never returned): Open replays
// the 39 before it, and says so with a warning.
func TestJournalTornLastRecordIsDropped(t *testing.T) {
	cut := damagedJournal(t, t.TempDir(), 40, 40, journalHdrSize+20)
	var log bytes.Buffer
	db := openTestDB(t, cut, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	var refs []string
	for i := range 39 {
		refs = append(refs, fmt.Sprintf("ref-%02d", i))
	}
	if missing := hasSales(t, db, refs...); len(missing) > 0 {
		t.Errorf("missing %v", missing)
	}
	if missing := hasSales(t, db, "ref-39"); len(missing) == 0 {
		t.Error("the torn last record was replayed")
	}
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "record=40") {
		t.Errorf("no warning about the torn record:\n%s", log.String())
	}
}

// TestSalvageJournal: the salvage writes a checked copy beside the
// database with the chain up to the damaged record, reports each record it
// kept and each it did not by its sales, and leaves the originals as they
// were; the copy put in place opens.
func TestSalvageJournal(t *testing.T) {
	cut := damagedJournal(t, t.TempDir(), 40, 2, journalHdrSize+20)
	dbSum, jSum := fileSum(t, cut), fileSum(t, cut+JournalSuffix)
	rep, err := SalvageJournal(cut, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Out != cut+".repaired" {
		t.Errorf("out %s", rep.Out)
	}
	if len(rep.Kept) != 1 || len(rep.Kept[0].Sales) != 1 || rep.Kept[0].Sales[0] != "ref-00" {
		t.Errorf("kept %+v", rep.Kept)
	}
	if len(rep.Lost) != 39 || !rep.Lost[0].Damaged || rep.Lost[0].Seq != 2 {
		t.Fatalf("lost %+v", rep.Lost)
	}
	for i, r := range rep.Lost[1:] {
		if want := fmt.Sprintf("ref-%02d", i+2); r.Damaged || len(r.Sales) != 1 || r.Sales[0] != want {
			t.Errorf("lost record %d: %+v, want the checked record of %s", r.Seq, r, want)
		}
	}
	if rep.Stats.Sales != 1 {
		t.Errorf("the copy holds %d sales, want 1", rep.Stats.Sales)
	}
	if fileSum(t, cut) != dbSum || fileSum(t, cut+JournalSuffix) != jSum {
		t.Error("the salvage changed the database or the journal")
	}
	// As the command tells: the originals aside, the copy in place.
	for _, p := range []string{cut, cut + JournalSuffix} {
		if err := os.Rename(p, p+".damaged"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(rep.Out, cut); err != nil {
		t.Fatal(err)
	}
	db := openTestDB(t, cut, Options{})
	if missing := hasSales(t, db, "ref-00"); len(missing) > 0 {
		t.Errorf("the repaired database lacks %v", missing)
	}
}

// TestRestoredBackupIsNotDamage: a backup taken at bbolt transaction T,
// three sales journaled on T (blocks 0 to 2), a flush (T+1), a fourth sale
// whose record overwrites block 0 only, and the backup copied over the
// database with the journal left beside it. Block 0 is a record that
// checks but names another transaction: the chain on T is empty, and the
// stale records 2 and 3 of the old chain behind it are not damage.
func TestRestoredBackupIsNotDamage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tillbox.db")
	db := rawOpen(t, path, Options{})
	stop := db.holdFlusher()
	var buf bytes.Buffer
	if _, err := db.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	journalSale(t, db, "ref-1")
	journalSale(t, db, "ref-2")
	journalSale(t, db, "ref-3")
	if err := db.flush(); err != nil {
		t.Fatal(err)
	}
	journalSale(t, db, "ref-4")
	stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("the restored backup does not open: %v", err)
	}
	defer db2.Close()
	if missing := hasSales(t, db2, "ref-1"); len(missing) == 0 {
		t.Error("a record of the newer state was replayed onto the backup")
	}
	if err := db2.Verify(); err != nil {
		t.Error(err)
	}
}

// TestRestoreStepsMoveTheJournalAside: every "restore a backup" the store
// prints moves the journal aside with the database.
func TestRestoreStepsMoveTheJournalAside(t *testing.T) {
	path := "/var/lib/tillbox/tillbox.db"
	for _, msg := range []string{
		(&CorruptError{Path: path, Reason: "x"}).Error(),
		(&JournalError{DB: path, Record: 1}).Error(),
	} {
		if !strings.Contains(msg, "mv "+path+JournalSuffix+" ") || !strings.Contains(msg, "mv "+path+" ") {
			t.Errorf("the restore steps do not move the database and its journal aside:\n%s", msg)
		}
	}
}

// TestRestoredBackupTornFirstRecord: after the restore of
// TestRestoredBackupIsNotDamage (the journal left in place), tillbox runs
// on the backup's state, which has the very txid the stale chain was based
// on, and a crash tears the first record it journals. That torn record is
// dropped, as any torn last record: Open cleared the stale records of the
// older chain when it started the journal, so none of them is taken for
// records the torn one hides.
func TestRestoredBackupTornFirstRecord(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "live", "tillbox.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db := rawOpen(t, path, Options{})
	stop := db.holdFlusher()
	var buf bytes.Buffer
	if _, err := db.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	journalSale(t, db, "ref-1")
	journalSale(t, db, "ref-2")
	journalSale(t, db, "ref-3")
	if err := db.flush(); err != nil {
		t.Fatal(err)
	}
	journalSale(t, db, "ref-4")
	stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	db2 := rawOpen(t, path, Options{})
	defer db2.Close()
	stop = db2.holdFlusher()
	defer stop()
	journalSale(t, db2, "ref-5")
	cut := snapshot(t, db2, filepath.Join(dir, "cut"))
	j, err := os.ReadFile(cut + JournalSuffix)
	if err != nil {
		t.Fatal(err)
	}
	j[journalHdrSize+20] ^= 0x20 // record 1, torn
	if err := os.WriteFile(cut+JournalSuffix, j, 0o600); err != nil {
		t.Fatal(err)
	}
	db3, err := Open(cut, Options{})
	if err != nil {
		t.Fatalf("a torn first record after a restore does not open: %v", err)
	}
	defer db3.Close()
	if missing := hasSales(t, db3, "ref-5", "ref-2"); len(missing) != 2 {
		t.Errorf("replayed a torn or a stale record: missing only %v", missing)
	}
}
