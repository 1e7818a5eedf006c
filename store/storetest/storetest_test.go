package storetest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// addEvents appends n events to db.
func addEvents(t *testing.T, db *store.DB, n int) {
	t.Helper()
	for range n {
		if err := db.Update(func(tx *store.Tx) error {
			_, err := tx.AppendEvent(&store.Event{Reference: "ref-1", Kind: "sale", At: time.Now(), Data: []byte(`{}`)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// A store a test writes through is closed and checked when the test ends;
// a test may close it itself first.
func TestOpenChecksOnCleanup(t *testing.T) {
	db, path := storetest.New(t, store.Options{})
	addEvents(t, db, 3)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again := storetest.Open(t, path, store.Options{})
	addEvents(t, again, 1)
}

// DamageEvent breaks the event the store's check then names, and marks
// the file damaged so that the check when the test ends leaves it alone.
func TestDamageEvent(t *testing.T) {
	db, path := storetest.New(t, store.Options{})
	addEvents(t, db, 3)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	storetest.DamageEvent(t, path, 2)

	db, err := store.Open(path, store.Options{}) // store.Open: the check's finding is the point
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ce *store.CorruptError
	if err := db.Verify(); !errors.As(err, &ce) || ce.Seq != 2 {
		t.Fatalf("Verify of a file with event 2 damaged: %v", err)
	}
}
