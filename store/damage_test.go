package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

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
