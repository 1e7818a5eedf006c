package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestCommandRoundTrip(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	want := testCommand("r-1", "create")
	want.NotAfter = t0.Add(2 * time.Minute)
	want.Attempts, want.NextAttempt, want.LastError = 2, t0.Add(5*time.Second), "503 Service Unavailable"
	mustUpdate(t, db, func(tx *Tx) error { return tx.Enqueue(want) })
	if want.ID != 1 {
		t.Fatalf("ID = %d, want 1", want.ID)
	}
	db = reopen(t, db, Options{})
	mustView(t, db, func(tx *Tx) error {
		got, err := tx.Command(want.ID)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Command = %+v\nwant %+v", got, want)
		}
		return nil
	})
}

func TestOutboxOrderAndIDsAcrossReopen(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	enqueue := func(ref string) uint64 {
		c := testCommand(ref, "capture")
		mustUpdate(t, db, func(tx *Tx) error { return tx.Enqueue(c) })
		return c.ID
	}
	for i, ref := range []string{"r-a", "r-b", "r-c"} {
		if id := enqueue(ref); id != uint64(i+1) {
			t.Fatalf("ID of command %d = %d", i+1, id)
		}
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteCommand(3) })
	db = reopen(t, db, Options{})
	if id := enqueue("r-d"); id != 4 {
		t.Fatalf("ID after delete and reopen = %d, want 4 (IDs are never reused)", id)
	}
	mustView(t, db, func(tx *Tx) error {
		cmds, err := tx.Commands(0, 0)
		var refs []string
		for _, c := range cmds {
			refs = append(refs, c.Reference)
		}
		if want := []string{"r-a", "r-b", "r-d"}; !reflect.DeepEqual(refs, want) {
			t.Errorf("Commands = %v, want %v", refs, want)
		}
		page, _ := tx.Commands(1, 1)
		if len(page) != 1 || page[0].ID != 2 {
			t.Errorf("Commands(after 1, 1) = %+v, want command 2", page)
		}
		return err
	})
	if st := mustStats(t, db); st.Commands != 3 || !st.OldestCommand.Equal(t0) {
		t.Errorf("stats = %+v, want 3 commands, the oldest from %v", st, t0)
	}
}

func TestDueCommands(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	ids := map[string]uint64{}
	mustUpdate(t, db, func(tx *Tx) error {
		for _, c := range []struct {
			ref  string
			next time.Time
		}{
			{"later", t0.Add(time.Minute)},
			{"now", time.Time{}},
			{"soon", t0.Add(time.Second)},
			{"past", t0.Add(-time.Hour)},
		} {
			cmd := testCommand(c.ref, "capture")
			cmd.NextAttempt = c.next
			if err := tx.Enqueue(cmd); err != nil {
				return err
			}
			ids[c.ref] = cmd.ID
		}
		return nil
	})
	due := func(now time.Time, limit int) []string {
		var refs []string
		mustView(t, db, func(tx *Tx) error {
			cmds, err := tx.DueCommands(now, limit)
			for _, c := range cmds {
				refs = append(refs, c.Reference)
			}
			return err
		})
		return refs
	}
	if got, want := due(t0, 0), []string{"now", "past"}; !reflect.DeepEqual(got, want) {
		t.Errorf("due at t0 = %v, want %v", got, want)
	}
	if got, want := due(t0.Add(time.Hour), 3), []string{"now", "past", "soon"}; !reflect.DeepEqual(got, want) {
		t.Errorf("due in an hour, 3 = %v, want %v", got, want)
	}

	// A failed attempt moves the command back in the queue.
	mustUpdate(t, db, func(tx *Tx) error {
		c, err := tx.Command(ids["now"])
		if err != nil {
			return err
		}
		c.Attempts++
		c.NextAttempt, c.LastError = t0.Add(2*time.Minute), "timeout"
		return tx.UpdateCommand(c)
	})
	if got, want := due(t0, 0), []string{"past"}; !reflect.DeepEqual(got, want) {
		t.Errorf("due at t0 after the retry = %v, want %v", got, want)
	}
	mustView(t, db, func(tx *Tx) error {
		next, ok, err := tx.NextDue()
		if !ok || !next.Equal(t0.Add(-time.Hour)) {
			t.Errorf("NextDue = %v, %v; want %v", next, ok, t0.Add(-time.Hour))
		}
		return err
	})
	mustUpdate(t, db, func(tx *Tx) error {
		for _, id := range ids {
			if err := tx.DeleteCommand(id); err != nil {
				return err
			}
		}
		return nil
	})
	mustView(t, db, func(tx *Tx) error {
		if _, ok, _ := tx.NextDue(); ok {
			t.Error("NextDue on an empty outbox reported a command")
		}
		return nil
	})
}

func TestUpdateCommandKeepsTheRequest(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	c := testCommand("r-1", "create")
	mustUpdate(t, db, func(tx *Tx) error { return tx.Enqueue(c) })

	changed := map[string]func(c *Command){
		"key":       func(c *Command) { c.IdempotencyKey = "other" },
		"body":      func(c *Command) { c.Body = json.RawMessage(`{"amount":1}`) },
		"kind":      func(c *Command) { c.Kind = "cancel" },
		"reference": func(c *Command) { c.Reference = "r-2" },
		"createdAt": func(c *Command) { c.CreatedAt = c.CreatedAt.Add(time.Second) },
	}
	for name, change := range changed {
		cc := *c
		change(&cc)
		if err := db.Update(func(tx *Tx) error { return tx.UpdateCommand(&cc) }); !errors.Is(err, ErrInvalid) {
			t.Errorf("changing the %s: UpdateCommand = %v, want ErrInvalid", name, err)
		}
	}
	// The same body with other spacing is the same request.
	cc := *c
	cc.Body = json.RawMessage("{ \"reference\": \"r-1\",\n \"amount\": {\"value\": 12900, \"currency\": \"NOK\"} }")
	cc.Attempts = 1
	mustUpdate(t, db, func(tx *Tx) error { return tx.UpdateCommand(&cc) })

	missing := *c
	missing.ID = 99
	if err := db.Update(func(tx *Tx) error { return tx.UpdateCommand(&missing) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateCommand(99) = %v, want ErrNotFound", err)
	}
	if err := db.Update(func(tx *Tx) error { return tx.DeleteCommand(99) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteCommand(99) = %v, want ErrNotFound", err)
	}
}

func TestEnqueueRefusesInvalid(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	for name, c := range map[string]*Command{
		"no reference": {Kind: "create", CreatedAt: t0},
		"no kind":      {Reference: "r-1", CreatedAt: t0},
		"no createdAt": {Reference: "r-1", Kind: "create"},
	} {
		if err := db.Update(func(tx *Tx) error { return tx.Enqueue(c) }); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Enqueue = %v, want ErrInvalid", name, err)
		}
	}
}

func TestCommandsFor(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	mustUpdate(t, db, func(tx *Tx) error {
		for _, c := range []*Command{
			testCommand("abc", "create"), testCommand("abcd", "create"),
			testCommand("abc", "capture"), testCommand("ab", "create"),
		} {
			if err := tx.Enqueue(c); err != nil {
				return err
			}
		}
		return nil
	})
	mustView(t, db, func(tx *Tx) error {
		cmds, err := tx.CommandsFor("abc")
		var got []string
		for _, c := range cmds {
			got = append(got, c.Kind)
		}
		if want := []string{"create", "capture"}; !reflect.DeepEqual(got, want) {
			t.Errorf("CommandsFor(abc) = %v, want %v", got, want)
		}
		if none, _ := tx.CommandsFor("a"); len(none) != 0 {
			t.Errorf("CommandsFor(a) = %v, want none", none)
		}
		return err
	})
}

func TestNextDueAfter(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	base := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	err := db.Update(func(tx *Tx) error {
		for i, at := range []time.Time{{}, base, base.Add(time.Second), base.Add(time.Minute)} {
			c := testCommand(fmt.Sprintf("till-1-%06d", i), "capture")
			c.NextAttempt = at
			if err := tx.Enqueue(c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		after time.Time
		want  time.Time
		ok    bool
	}{
		{time.Time{}, base, true},
		{base.Add(-time.Nanosecond), base, true},
		{base, base.Add(time.Second), true},
		{base.Add(30 * time.Second), base.Add(time.Minute), true},
		{base.Add(time.Minute), time.Time{}, false},
	} {
		var got time.Time
		var ok bool
		if err := db.View(func(tx *Tx) error {
			var err error
			got, ok, err = tx.NextDueAfter(c.after)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("NextDueAfter(%v) = %v, %v; want %v, %v", c.after, got, ok, c.want, c.ok)
		}
	}
}

func TestFirstCommandID(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	var ids []uint64
	err := db.Update(func(tx *Tx) error {
		for _, ref := range []string{"till-1-000001", "till-1-0000010", "till-1-000001", "till-1-000002"} {
			c := testCommand(ref, "capture")
			if err := tx.Enqueue(c); err != nil {
				return err
			}
			ids = append(ids, c.ID)
		}
		return tx.DeleteCommand(ids[0])
	})
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]uint64{"till-1-000001": ids[2], "till-1-0000010": ids[1], "till-1-000002": ids[3], "till-1-000003": 0} {
		var got uint64
		var ok bool
		if err := db.View(func(tx *Tx) error {
			var err error
			got, ok, err = tx.FirstCommandID(ref)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got != want || ok != (want != 0) {
			t.Errorf("FirstCommandID(%s) = %d, %v; want %d", ref, got, ok, want)
		}
	}
}
