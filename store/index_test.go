package store

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestEachOpenFollowsState: the index of unfinished sales holds each one's
// state and creation time as the sale changes, and drops it when final.
func TestEachOpenFollowsState(t *testing.T) {
	db := openTestDB(t, filepath.Join(t.TempDir(), "tillbox.db"), Options{})
	a, b := testSale("ref-a", 1), testSale("ref-b", 1)
	b.CreatedAt = t0.Add(time.Minute)
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.CreateSale(a); err != nil {
			return err
		}
		return tx.CreateSale(b)
	})
	a.State = "authorized"
	mustUpdate(t, db, func(tx *Tx) error { return tx.PutSale(a) })
	want := []OpenSale{
		{Reference: "ref-a", State: "authorized", CreatedAt: t0},
		{Reference: "ref-b", State: "created", CreatedAt: t0.Add(time.Minute)},
	}
	if got := openSales(t, db); !sameOpen(got, want) {
		t.Fatalf("EachOpen = %+v, want %+v", got, want)
	}
	// Verify checks the values: a stale state in the index is damage.
	mustUpdate(t, db, func(tx *Tx) error { return tx.btx.Bucket([]byte(bucketOpen)).Put([]byte("ref-a"), openValue(b)) })
	if err := db.Verify(); err == nil {
		t.Fatal("Verify passed an index entry with another sale's state")
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.btx.Bucket([]byte(bucketOpen)).Put([]byte("ref-a"), openValue(a)) })
	a.State, a.Final, a.FinishedAt = "completed", true, t0.Add(time.Hour)
	mustUpdate(t, db, func(tx *Tx) error { return tx.PutSale(a) })
	if got := openSales(t, db); !sameOpen(got, want[1:]) {
		t.Fatalf("after ref-a is final: EachOpen = %+v, want %+v", got, want[1:])
	}
	if err := db.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestDueFollowsCommands: the index by NextAttempt holds what the outbox
// chooses by, and follows UpdateCommand.
func TestDueFollowsCommands(t *testing.T) {
	db := openTestDB(t, filepath.Join(t.TempDir(), "tillbox.db"), Options{})
	create, capture := testCommand("ref-a", "create"), testCommand("ref-b", "capture")
	create.NotAfter = t0.Add(2 * time.Minute)
	capture.NextAttempt = t0.Add(time.Hour)
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.Enqueue(create); err != nil {
			return err
		}
		return tx.Enqueue(capture)
	})
	due := func(now time.Time) []DueCommand {
		var out []DueCommand
		mustView(t, db, func(tx *Tx) error {
			var err error
			out, err = tx.Due(now, 0)
			return err
		})
		return out
	}
	wantCreate := DueCommand{ID: create.ID, Reference: "ref-a", Kind: "create", NotAfter: create.NotAfter}
	if got := due(t0); !reflect.DeepEqual(normDue(got), []DueCommand{wantCreate}) {
		t.Fatalf("Due(t0) = %+v, want %+v", got, wantCreate)
	}
	create.MaybeSent, create.NextAttempt = true, t0.Add(time.Second)
	mustUpdate(t, db, func(tx *Tx) error { return tx.UpdateCommand(create) })
	wantCreate.MaybeSent, wantCreate.NextAttempt = true, create.NextAttempt
	wantCapture := DueCommand{ID: capture.ID, Reference: "ref-b", Kind: "capture", NextAttempt: capture.NextAttempt}
	if got := due(t0.Add(2 * time.Hour)); !reflect.DeepEqual(normDue(got), []DueCommand{wantCreate, wantCapture}) {
		t.Fatalf("Due(+2h) = %+v, want %+v", got, []DueCommand{wantCreate, wantCapture})
	}
	if got := due(t0); len(got) != 0 {
		t.Fatalf("Due(t0) after the retry was set = %+v, want none", got)
	}
	if err := db.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateV2FillsIndexes: a file of schema 1 (empty index values) gets
// the values at Open, and the walks read them.
func TestMigrateV2FillsIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	db, err := open(path, Options{}, schema()[:1])
	if err != nil {
		t.Fatal(err)
	}
	s := testSale("ref-a", 2)
	s.State = "queued"
	c := testCommand("ref-a", "create")
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.CreateSale(s); err != nil {
			return err
		}
		if err := tx.Enqueue(c); err != nil {
			return err
		}
		// What schema 1 wrote: empty index values.
		if err := tx.btx.Bucket([]byte(bucketOpen)).Put([]byte("ref-a"), []byte{}); err != nil {
			return err
		}
		return tx.btx.Bucket([]byte(bucketOutDue)).Put(timeIDKey(c.NextAttempt, c.ID), []byte{})
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTestDB(t, path, Options{})
	if got, want := openSales(t, db), []OpenSale{{Reference: "ref-a", State: "queued", CreatedAt: t0}}; !sameOpen(got, want) {
		t.Errorf("EachOpen after the migration = %+v, want %+v", got, want)
	}
	mustView(t, db, func(tx *Tx) error {
		due, err := tx.Due(t0, 0)
		if err == nil && (len(due) != 1 || due[0].Kind != "create" || due[0].Reference != "ref-a") {
			t.Errorf("Due after the migration = %+v", due)
		}
		return err
	})
	if err := db.Verify(); err != nil {
		t.Fatal(err)
	}
}

func openSales(t *testing.T, db *DB) []OpenSale {
	t.Helper()
	var out []OpenSale
	mustView(t, db, func(tx *Tx) error {
		return tx.EachOpen(func(o OpenSale) bool {
			out = append(out, o)
			return true
		})
	})
	return out
}

func sameOpen(a, b []OpenSale) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Reference != b[i].Reference || a[i].State != b[i].State || !a[i].CreatedAt.Equal(b[i].CreatedAt) {
			return false
		}
	}
	return true
}

// normDue drops the monotonic and location parts of the times, for DeepEqual.
func normDue(ds []DueCommand) []DueCommand {
	for i := range ds {
		if !ds[i].NextAttempt.IsZero() {
			ds[i].NextAttempt = ds[i].NextAttempt.UTC()
		}
		if !ds[i].NotAfter.IsZero() {
			ds[i].NotAfter = ds[i].NotAfter.UTC()
		}
	}
	return ds
}
