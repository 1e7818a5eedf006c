package store

import (
	"errors"
	"reflect"
	"testing"
)

func TestEventRoundTrip(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	want := testEvent("r-1", "AUTHORIZED")
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.AppendEvent(want); return err })
	db = reopen(t, db, Options{})
	mustView(t, db, func(tx *Tx) error {
		got, err := tx.EventsAfter(0, 0)
		if len(got) != 1 || !reflect.DeepEqual(&got[0], want) {
			t.Errorf("EventsAfter(0) = %+v, want [%+v]", got, want)
		}
		return err
	})
}

func TestEventSeqGaplessAcrossReopen(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	appendN := func(n int) {
		mustUpdate(t, db, func(tx *Tx) error {
			for range n {
				if _, err := tx.AppendEvent(testEvent("r-1", "x")); err != nil {
					return err
				}
			}
			return nil
		})
	}
	appendN(3)
	// A failed transaction takes its sequence numbers with it.
	_ = db.Update(func(tx *Tx) error {
		_, _ = tx.AppendEvent(testEvent("r-1", "x"))
		return errors.New("rolled back")
	})
	appendN(2)
	db = reopen(t, db, Options{})
	appendN(5)

	mustView(t, db, func(tx *Tx) error {
		all, err := tx.EventsAfter(0, 0)
		if err != nil {
			return err
		}
		for i, e := range all {
			if e.Seq != uint64(i+1) {
				t.Fatalf("event %d has seq %d", i, e.Seq)
			}
		}
		if len(all) != 10 || tx.LastSeq() != 10 || tx.FirstSeq() != 1 {
			t.Errorf("%d events, LastSeq %d, FirstSeq %d; want 10, 10, 1", len(all), tx.LastSeq(), tx.FirstSeq())
		}
		page, err := tx.EventsAfter(3, 4)
		var seqs []uint64
		for _, e := range page {
			seqs = append(seqs, e.Seq)
		}
		if want := []uint64{4, 5, 6, 7}; !reflect.DeepEqual(seqs, want) {
			t.Errorf("EventsAfter(3, 4) = %v, want %v", seqs, want)
		}
		if rest, _ := tx.EventsAfter(10, 0); len(rest) != 0 {
			t.Errorf("EventsAfter(LastSeq) = %v, want none", rest)
		}
		return err
	})
}

func TestAppendEventRefusesInvalid(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	for name, e := range map[string]*Event{
		"no kind": {At: t0},
		"no at":   {Kind: "sale"},
	} {
		if err := db.Update(func(tx *Tx) error { _, err := tx.AppendEvent(e); return err }); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: AppendEvent = %v, want ErrInvalid", name, err)
		}
	}
}

func TestNextCounterAcrossReopen(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	next := func(name string) uint64 {
		var n uint64
		mustUpdate(t, db, func(tx *Tx) (err error) { n, err = tx.NextCounter(name); return err })
		return n
	}
	if a, b, c := next("till-1"), next("till-1"), next("till-2"); a != 1 || b != 2 || c != 1 {
		t.Fatalf("counters = %d, %d, %d; want 1, 2, 1", a, b, c)
	}
	db = reopen(t, db, Options{})
	if n := next("till-1"); n != 3 {
		t.Fatalf("counter after reopen = %d, want 3", n)
	}
	if err := db.Update(func(tx *Tx) error { _, err := tx.NextCounter(""); return err }); !errors.Is(err, ErrInvalid) {
		t.Errorf("NextCounter(\"\") = %v, want ErrInvalid", err)
	}
}
