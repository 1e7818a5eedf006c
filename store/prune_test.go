package store

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"
)

func TestPrune(t *testing.T) {
	const day = 24 * time.Hour
	db, _ := newTestDB(t, Options{Retention: 30 * day, EventRetention: 60 * day})
	now := t0.Add(100 * day)
	mustUpdate(t, db, func(tx *Tx) error {
		put := func(ref string, finished time.Time) error {
			s := testSale(ref, 1)
			if !finished.IsZero() {
				s.Final, s.FinishedAt = true, finished
			}
			return tx.CreateSale(s)
		}
		for _, err := range []error{
			put("open-old", time.Time{}),         // unfinished: never pruned
			put("done-old", now.Add(-40*day)),    // finished 40 days ago: pruned
			put("done-older", now.Add(-99*day)),  // pruned
			put("done-recent", now.Add(-10*day)), // kept
			put("done-queued", now.Add(-50*day)), // old, but a command is queued: kept
			tx.Enqueue(testCommand("done-queued", "receipt")),
		} {
			if err != nil {
				return err
			}
		}
		for _, d := range []time.Duration{90 * day, 70 * day, 61 * day, 59 * day, 1 * day} {
			e := testEvent("done-old", "x")
			e.At = now.Add(-d)
			if _, err := tx.AppendEvent(e); err != nil {
				return err
			}
		}
		return nil
	})

	p, err := db.Prune(now)
	if err != nil {
		t.Fatal(err)
	}
	if p != (Pruned{Sales: 2, Events: 3}) {
		t.Errorf("Prune = %+v, want 2 sales and 3 events", p)
	}
	var refs []string
	mustView(t, db, func(tx *Tx) error {
		sales, err := tx.Sales("", 0)
		for _, s := range sales {
			refs = append(refs, s.Reference)
		}
		if tx.FirstSeq() != 4 || tx.LastSeq() != 5 {
			t.Errorf("events %d..%d kept, want 4..5", tx.FirstSeq(), tx.LastSeq())
		}
		return err
	})
	sort.Strings(refs)
	if want := []string{"done-queued", "done-recent", "open-old"}; !reflect.DeepEqual(refs, want) {
		t.Errorf("kept %v, want %v", refs, want)
	}
	// Sequence numbers go on from where they were.
	mustUpdate(t, db, func(tx *Tx) error {
		seq, err := tx.AppendEvent(testEvent("x", "y"))
		if seq != 6 {
			t.Errorf("next seq = %d, want 6", seq)
		}
		return err
	})
	// Once its command is gone, the old sale goes too.
	mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteCommand(1) })
	if p, _ := db.Prune(now); p.Sales != 1 {
		t.Errorf("second Prune = %+v, want the sale whose command went", p)
	}
	if p, _ := db.Prune(now); p != (Pruned{}) {
		t.Errorf("third Prune = %+v, want nothing", p)
	}
}

func TestPruneInBatches(t *testing.T) {
	db, _ := newTestDB(t, Options{Retention: time.Hour})
	const n = 2*pruneBatch + 500
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range n {
			s := testSale(fmt.Sprintf("r-%05d", i), 0)
			s.Final, s.FinishedAt = true, t0.Add(time.Duration(i)*time.Second)
			if err := tx.CreateSale(s); err != nil {
				return err
			}
			if i%100 == 0 { // some of them still have work queued
				if err := tx.Enqueue(testCommand(s.Reference, "receipt")); err != nil {
					return err
				}
			}
		}
		return nil
	})
	p, err := db.Prune(t0.Add(48 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := n - n/100; p.Sales != want {
		t.Errorf("pruned %d sales, want %d", p.Sales, want)
	}
	if st := mustStats(t, db); st.Sales != n/100 || st.Commands != n/100 {
		t.Errorf("stats = %+v, want %d sales with their commands", st, n/100)
	}
}
