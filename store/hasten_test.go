package store

import (
	"testing"
	"time"
)

// TestHasten: the commands due within the horizon whose last attempt got
// no answer become due now; later ones, answered ones (a Retry-After) and
// those already due keep their NextAttempt, and what is sent does not
// change.
func TestHasten(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	at := map[string]time.Time{
		"r-due":   t0.Add(-time.Second),
		"r-soon":  t0.Add(10 * time.Second),
		"r-later": t0.Add(50 * time.Second),
		"r-far":   t0.Add(2 * time.Hour),
		// answered with a Retry-After: keeps it
		"r-answered": t0.Add(20 * time.Second),
	}
	ids := map[string]uint64{}
	for _, ref := range []string{"r-due", "r-soon", "r-later", "r-far", "r-answered"} {
		c := testCommand(ref, "capture")
		c.NextAttempt, c.Attempts, c.NoAnswer = at[ref], 7, ref != "r-answered"
		mustUpdate(t, db, func(tx *Tx) error { return tx.Enqueue(c) })
		ids[ref] = c.ID
	}
	var n int
	mustUpdate(t, db, func(tx *Tx) error {
		var err error
		n, err = tx.Hasten(t0, t0.Add(time.Minute))
		return err
	})
	if n != 2 {
		t.Errorf("Hasten moved %d commands, want 2", n)
	}
	mustView(t, db, func(tx *Tx) error {
		due, err := tx.Due(t0, 0)
		if err != nil {
			return err
		}
		var got []string
		for _, d := range due {
			got = append(got, d.Reference)
		}
		if len(got) != 3 || got[0] != "r-due" || got[1] != "r-soon" || got[2] != "r-later" {
			t.Errorf("due after Hasten: %v, want r-due r-soon r-later", got)
		}
		for _, ref := range []string{"r-far", "r-answered"} {
			c, err := tx.Command(ids[ref])
			if err != nil {
				return err
			}
			if !c.NextAttempt.Equal(at[ref]) {
				t.Errorf("%s moved to %v", ref, c.NextAttempt)
			}
		}
		soon, err := tx.Command(ids["r-soon"])
		if err != nil {
			return err
		}
		if !soon.NextAttempt.Equal(t0) || soon.Attempts != 7 || soon.IdempotencyKey == "" {
			t.Errorf("r-soon after Hasten: %+v", soon)
		}
		return nil
	})
	if err := db.Verify(); err != nil {
		t.Fatal(err)
	}
}
