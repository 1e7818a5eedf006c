package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// appendAged appends n events dated at.
func appendAged(t *testing.T, db *DB, n int, at time.Time) {
	t.Helper()
	mustUpdate(t, db, func(tx *Tx) error {
		for range n {
			e := testEvent("ref", "x")
			e.At = at
			if _, err := tx.AppendEvent(e); err != nil {
				return err
			}
		}
		return nil
	})
}

func keptSeqs(t *testing.T, db *DB) (first, last uint64) {
	t.Helper()
	mustView(t, db, func(tx *Tx) error {
		first, last = tx.FirstSeq(), tx.LastSeq()
		return nil
	})
	return first, last
}

func setShipped(t *testing.T, db *DB, seq uint64) {
	t.Helper()
	mustUpdate(t, db, func(tx *Tx) error { return tx.SetShipped(seq) })
}

// TestPruneHoldsUnshipped: with the link to headquarters on, events it has
// not acknowledged survive a prune past EventRetention; once shipped they
// go. Without HoldUnshipped, age alone decides.
func TestPruneHoldsUnshipped(t *testing.T) {
	const day = 24 * time.Hour
	now := t0.Add(100 * day)
	db, _ := newTestDB(t, Options{Retention: 30 * day, EventRetention: 30 * day, HoldUnshipped: true})
	appendAged(t, db, 10, now.Add(-60*day)) // every one past its retention

	if p, err := db.Prune(now); err != nil || p.Events != 0 {
		t.Fatalf("Prune with nothing shipped = %+v, %v; want every event kept", p, err)
	}
	setShipped(t, db, 4)
	if p, err := db.Prune(now); err != nil || p.Events != 4 {
		t.Fatalf("Prune with 4 shipped = %+v, %v; want the 4 shipped events pruned", p, err)
	}
	if first, last := keptSeqs(t, db); first != 5 || last != 10 {
		t.Errorf("kept %d..%d, want 5..10", first, last)
	}
	setShipped(t, db, 10)
	if p, err := db.Prune(now); err != nil || p.Events != 6 {
		t.Fatalf("Prune with all shipped = %+v, %v; want the other 6", p, err)
	}

	// The link off: the mark does not hold anything back.
	off, _ := newTestDB(t, Options{Retention: 30 * day, EventRetention: 30 * day})
	appendAged(t, off, 3, now.Add(-60*day))
	if p, err := off.Prune(now); err != nil || p.Events != 3 {
		t.Errorf("Prune without HoldUnshipped = %+v, %v; want the 3 old events", p, err)
	}
}

// TestPruneHoldsUnshippedInBatches: more unshipped events than one prune
// transaction takes are held as well, and the shipped ones before them go.
func TestPruneHoldsUnshippedInBatches(t *testing.T) {
	const day = 24 * time.Hour
	now := t0.Add(100 * day)
	db, _ := newTestDB(t, Options{EventRetention: 30 * day, HoldUnshipped: true})
	appendAged(t, db, 2*pruneBatch+10, now.Add(-60*day))
	setShipped(t, db, pruneBatch+5)
	if p, err := db.Prune(now); err != nil || p.Events != pruneBatch+5 {
		t.Fatalf("Prune = %+v, %v; want %d", p, err, pruneBatch+5)
	}
	if first, _ := keptSeqs(t, db); first != pruneBatch+6 {
		t.Errorf("first kept %d, want %d", first, pruneBatch+6)
	}
}

// TestShippedMarkDurable: the mark survives a reopen, and a power cut
// while it was only in the journal; it may go down, never past the log.
func TestShippedMarkDurable(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, filepath.Join(dir, "tillbox.db"), Options{})
	mustView(t, db, func(tx *Tx) error {
		if tx.Shipped() != 0 {
			t.Errorf("a new database has shipped %d", tx.Shipped())
		}
		return nil
	})
	appendAged(t, db, 5, t0)
	setShipped(t, db, 3)
	db = reopen(t, db, Options{})
	mustView(t, db, func(tx *Tx) error {
		if tx.Shipped() != 3 {
			t.Errorf("after reopen shipped = %d, want 3", tx.Shipped())
		}
		return nil
	})

	// Journaled, never committed to bbolt: a power cut now.
	stop := db.holdFlusher()
	if err := db.Journaled(func(tx *Tx) error { return tx.SetShipped(5) }); err != nil {
		t.Fatal(err)
	}
	cut := snapshot(t, db, filepath.Join(dir, "cut"))
	stop()
	rdb := openTestDB(t, cut, Options{})
	mustView(t, rdb, func(tx *Tx) error {
		if tx.Shipped() != 5 {
			t.Errorf("after a power cut shipped = %d, want 5 (journaled)", tx.Shipped())
		}
		return nil
	})

	err := db.Update(func(tx *Tx) error { return tx.SetShipped(6) })
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("SetShipped past the newest event: %v, want ErrInvalid", err)
	}
	setShipped(t, db, 2) // headquarters holds less than the mark said
	mustView(t, db, func(tx *Tx) error {
		if tx.Shipped() != 2 {
			t.Errorf("shipped = %d, want 2", tx.Shipped())
		}
		return nil
	})
}

// TestRawEventsAfter: the events as stored, byte for byte.
func TestRawEventsAfter(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	appendAged(t, db, 4, t0)
	var raw []RawEvent
	var decoded []Event
	mustView(t, db, func(tx *Tx) error {
		var err error
		if raw, err = tx.RawEventsAfter(1, 2); err != nil {
			return err
		}
		decoded, err = tx.EventsAfter(1, 2)
		return err
	})
	if len(raw) != 2 || raw[0].Seq != 2 || raw[1].Seq != 3 {
		t.Fatalf("RawEventsAfter(1, 2) = %+v", raw)
	}
	for i, r := range raw {
		want, _ := json.Marshal(decoded[i])
		if !bytes.Equal(r.JSON, want) {
			t.Errorf("event %d: %s, want %s", r.Seq, r.JSON, want)
		}
	}
}
