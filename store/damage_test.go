package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// damageEvent writes broken JSON over event seq of the closed database at
// path, as a bad sector or a bug would leave it.
func damageEvent(t *testing.T, path string, seq uint64) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketEvents)).Put(u64Key(seq), []byte(`{"seq":`))
	}); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedEventIsFound: an event with broken JSON is found by the
// record check Open starts (before anyone reads it), named with its
// sequence number; the events before it can be read, and reading it gives
// an error that names it.
func TestDamagedEventIsFound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		ref := fmt.Sprintf("ref-%d", i)
		mustUpdate(t, db, func(tx *Tx) error {
			_, err := tx.AppendEvent(testEvent(ref, "created"))
			return err
		})
	}
	db.Close()
	damageEvent(t, path, 3)

	db, err = Open(path, Options{CheckRecords: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	<-db.Checked()
	var ce *CorruptError
	if err := db.Damage(); !errors.As(err, &ce) || ce.Record != "event 3" || ce.Seq != 3 {
		t.Fatalf("Damage after the record check: %v, want event 3 named", err)
	}

	var evs []Event
	mustView(t, db, func(tx *Tx) (err error) { evs, err = tx.EventsAfter(0, 10); return err })
	if len(evs) != 2 || evs[1].Seq != 2 {
		t.Errorf("events before the damaged one: %+v", evs)
	}
	err = db.View(func(tx *Tx) error { _, err := tx.EventsAfter(2, 10); return err })
	if !errors.As(err, &ce) || ce.Seq != 3 {
		t.Errorf("EventsAfter(2): %v, want the damaged event 3 named", err)
	}
	mustView(t, db, func(tx *Tx) (err error) { evs, err = tx.EventsAfter(3, 10); return err })
	if len(evs) != 2 || evs[0].Seq != 4 {
		t.Errorf("events after the damaged one: %+v", evs)
	}
	if err := db.Verify(); !errors.As(err, &ce) || ce.Seq != 3 {
		t.Errorf("Verify: %v", err)
	}
}

// TestDamageMetWhileServing: without the record check, the first read of a
// damaged record is remembered.
func TestDamageMetWhileServing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.AppendEvent(testEvent("ref-1", "created")); return err })
	db.Close()
	damageEvent(t, path, 1)
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Damage(); err != nil {
		t.Fatalf("Damage before any read: %v", err)
	}
	_ = db.View(func(tx *Tx) error { _, err := tx.EventsAfter(0, 10); return err })
	var ce *CorruptError
	if err := db.Damage(); !errors.As(err, &ce) || ce.Record != "event 1" {
		t.Errorf("Damage after reading it: %v", err)
	}
}

// TestDamagedRecordsAreNamed: a sale, a command or an index entry the
// store cannot use is found by the record check at start and named by its
// key, so that the outbox or the POS does not retry it unseen.
func TestDamagedRecordsAreNamed(t *testing.T) {
	for _, tc := range []struct {
		name, bucket string
		key, value   []byte
		want         string
	}{
		{"sale", bucketSales, []byte("ref-1"), []byte(`{"reference":`), `sale "ref-1"`},
		{"command", bucketOutbox, u64Key(1), []byte(`[`), "command 1"},
		{"index entry without its record", bucketOutRef, refIDKey("ref-9", 9), []byte{}, `outbox_ref entry "ref-9\x00`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tillbox.db")
			db, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			mustUpdate(t, db, func(tx *Tx) error {
				if err := tx.CreateSale(testSale("ref-1", 1)); err != nil {
					return err
				}
				return tx.Enqueue(testCommand("ref-1", "create"))
			})
			db.Close()
			bdb, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(tc.bucket)).Put(tc.key, tc.value) }); err != nil {
				t.Fatal(err)
			}
			bdb.Close()

			db, err = Open(path, Options{CheckRecords: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			<-db.Checked()
			var ce *CorruptError
			if err := db.Damage(); !errors.As(err, &ce) || !strings.HasPrefix(ce.Record, tc.want) {
				t.Errorf("Damage: %v, want %q named", err, tc.want)
			}
		})
	}
}

// TestCheckLetsTheFileGrow: the record check reads in short transactions,
// so a commit that grows the file (bbolt remaps it, which waits for every
// read transaction) completes while the check is under way. The check is
// held between two chunks until the write is done: with the whole check in
// one read transaction, the flush could not remap, and the test would time
// out.
func TestCheckLetsTheFileGrow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for b := range 6 {
		mustUpdate(t, db, func(tx *Tx) error {
			for i := range 500 {
				if err := tx.CreateSale(testSale(fmt.Sprintf("ref-%d-%03d", b, i), 2)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	before := fi.Size()

	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	db, err = Open(path, Options{CheckRecords: true, checkChunkHook: func() {
		once.Do(func() {
			close(held)
			<-release
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.After(30 * time.Second)
	select {
	case <-held:
	case <-db.Checked():
		t.Fatal("the check ended without a second chunk")
	case <-deadline:
		t.Fatal("the check did not get to its second chunk")
	}

	// More than the file holds (the mapping is at most twice the file):
	// the commit must remap.
	big := testSale("big-0", 1000)
	n := int(2*before)/len(mustJSON(t, big)) + 2
	wrote := make(chan error, 1)
	go func() {
		for i := range n {
			err := db.Journaled(func(tx *Tx) error { return tx.CreateSale(testSale(fmt.Sprintf("big-%d", i), 1000)) })
			if err != nil {
				wrote <- err
				return
			}
		}
		wrote <- db.flush()
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-deadline:
		close(release)
		t.Fatal("a write that grows the file waited for the record check (30 s)")
	}
	close(release)
	if fi, err := os.Stat(path); err != nil {
		t.Error(err)
	} else if fi.Size() <= 2*before {
		t.Errorf("the file is %d bytes, was %d: it did not grow past its mapping", fi.Size(), before)
	}
	<-db.Checked()
	if err := db.Damage(); err != nil {
		t.Errorf("the check reported damage while writes went on: %v", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCheckChangesBetweenChunksAreNotDamage: sales the check read as open
// finish between two of its chunks (their sales_open entries go, entries
// in sales_done come), and new ones are created behind it: the indexes
// and counts it then reads disagree with what it read before, but nothing
// is damaged, and the check reports nothing.
func TestCheckChangesBetweenChunksAreNotDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for b := range 3 {
		mustUpdate(t, db, func(tx *Tx) error {
			for i := range 1000 {
				if err := tx.CreateSale(testSale(fmt.Sprintf("ref-%d-%03d", b, i), 1)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	db, err = Open(path, Options{CheckRecords: true, checkChunkHook: func() {
		once.Do(func() {
			close(held)
			<-release
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the check did not get to its second chunk")
	}
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range 100 {
			s, err := tx.Sale(fmt.Sprintf("ref-0-%03d", i))
			if err != nil {
				return err
			}
			s.Final, s.FinishedAt, s.State = true, time.Now(), "captured"
			if err := tx.PutSale(s); err != nil {
				return err
			}
			if err := tx.CreateSale(testSale(fmt.Sprintf("new-%03d", i), 1)); err != nil {
				return err
			}
		}
		return nil
	})
	close(release)
	<-db.Checked()
	if err := db.Damage(); err != nil {
		t.Errorf("the check reported damage: %v", err)
	}
	if err := db.Verify(); err != nil {
		t.Error(err)
	}
}
