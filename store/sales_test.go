package store

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestSaleRoundTrip(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	want := testSale("till1-0001", 3)
	want.Customer = Customer{PhoneNumber: "4712345678"}
	want.VippsState = "AUTHORIZED"
	want.PSPReference = "psp-1"
	want.Aggregate = Aggregate{Authorized: 12900, Captured: 12900, Refunded: 100, Cancelled: 0}
	want.ErrorCode, want.ErrorMessage = "X", "y"
	want.State, want.Final, want.FinishedAt = "captured", true, t0.Add(time.Minute)
	mustUpdate(t, db, func(tx *Tx) error { return tx.CreateSale(want) })

	db = reopen(t, db, Options{})
	mustView(t, db, func(tx *Tx) error {
		got, err := tx.Sale(want.Reference)
		if err != nil {
			return err
		}
		if !jsonEqual(got.Receipt, want.Receipt) {
			t.Errorf("receipt = %s, want %s", got.Receipt, want.Receipt)
		}
		got.Receipt, want.Receipt = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Sale = %+v\nwant %+v", got, want)
		}
		return nil
	})
}

func TestCreateSaleTwice(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	mustUpdate(t, db, func(tx *Tx) error { return tx.CreateSale(testSale("r-1", 1)) })
	err := db.Update(func(tx *Tx) error { return tx.CreateSale(testSale("r-1", 1)) })
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second CreateSale = %v, want ErrExists", err)
	}
	if st := mustStats(t, db); st.Sales != 1 || st.Unfinished != 1 {
		t.Errorf("stats = %+v, want one unfinished sale", st)
	}
}

func TestSaleNotFound(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	err := db.View(func(tx *Tx) error { _, err := tx.Sale("nope"); return err })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Sale(nope) = %v, want ErrNotFound", err)
	}
}

func TestPutSaleRefusesInvalid(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	long := make([]byte, maxRefLen+1)
	for i := range long {
		long[i] = 'a'
	}
	final := testSale("r-final", 0)
	final.Final = true
	for name, s := range map[string]*Sale{
		"empty reference":        testSale("", 0),
		"NUL in reference":       testSale("a\x00b", 0),
		"long reference":         testSale(string(long), 0),
		"final without finished": final,
	} {
		err := db.Update(func(tx *Tx) error { return tx.PutSale(s) })
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: PutSale = %v, want ErrInvalid", name, err)
		}
	}
	if st := mustStats(t, db); st.Sales != 0 {
		t.Errorf("%d sales stored, want 0", st.Sales)
	}
}

func TestUnfinishedIndexFollowsFinal(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range 5 {
			if err := tx.CreateSale(testSale(fmt.Sprintf("r-%d", i), 1)); err != nil {
				return err
			}
		}
		return nil
	})
	finish := func(ref string, at time.Time) {
		mustUpdate(t, db, func(tx *Tx) error {
			s, err := tx.Sale(ref)
			if err != nil {
				return err
			}
			s.State, s.Final, s.FinishedAt = "captured", true, at
			return tx.PutSale(s)
		})
	}
	finish("r-1", t0.Add(time.Minute))
	finish("r-3", t0.Add(time.Minute))
	finish("r-3", t0.Add(2*time.Minute)) // moves in the prune index

	unfinished := func() []string {
		var refs []string
		mustView(t, db, func(tx *Tx) error {
			sales, err := tx.UnfinishedSales()
			for _, s := range sales {
				refs = append(refs, s.Reference)
			}
			return err
		})
		return refs
	}
	if got, want := unfinished(), []string{"r-0", "r-2", "r-4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("UnfinishedSales = %v, want %v", got, want)
	}
	db = reopen(t, db, Options{})
	if got, want := unfinished(), []string{"r-0", "r-2", "r-4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen UnfinishedSales = %v, want %v", got, want)
	}
	// A final sale the agent reopens (say, a late refund) is unfinished again.
	mustUpdate(t, db, func(tx *Tx) error {
		s, err := tx.Sale("r-1")
		if err != nil {
			return err
		}
		s.Final, s.FinishedAt = false, time.Time{}
		return tx.PutSale(s)
	})
	if got, want := unfinished(), []string{"r-0", "r-1", "r-2", "r-4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("UnfinishedSales = %v, want %v", got, want)
	}
	if st := mustStats(t, db); st.Sales != 5 || st.Unfinished != 4 {
		t.Errorf("stats = %+v, want 5 sales, 4 unfinished", st)
	}
}

func TestSalesPages(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range 7 {
			if err := tx.CreateSale(testSale(fmt.Sprintf("r-%d", i), 0)); err != nil {
				return err
			}
		}
		return nil
	})
	var got []string
	after := ""
	for {
		var page []Sale
		mustView(t, db, func(tx *Tx) (err error) { page, err = tx.Sales(after, 3); return err })
		if len(page) == 0 {
			break
		}
		for _, s := range page {
			got = append(got, s.Reference)
		}
		after = page[len(page)-1].Reference
	}
	if want := []string{"r-0", "r-1", "r-2", "r-3", "r-4", "r-5", "r-6"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("pages = %v, want %v", got, want)
	}
}

// A failed transaction leaves no trace: no record, no sequence number, no
// counter increment, no count.
func TestFailedUpdateLeavesNothing(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	boom := errors.New("boom")
	committed := false
	err := db.Update(func(tx *Tx) error {
		tx.OnCommit(func() { committed = true })
		if err := tx.CreateSale(testSale("r-1", 1)); err != nil {
			return err
		}
		if err := tx.Enqueue(testCommand("r-1", "create")); err != nil {
			return err
		}
		if _, err := tx.AppendEvent(testEvent("r-1", "created")); err != nil {
			return err
		}
		if _, err := tx.NextCounter("ref"); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("Update = %v, want fn's error unchanged", err)
	}
	if committed {
		t.Error("OnCommit ran for a failed transaction")
	}
	if st := mustStats(t, db); st.Sales+st.Unfinished+st.Commands+st.Events != 0 || st.LastSeq != 0 {
		t.Fatalf("stats after a failed Update = %+v", st)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		tx.OnCommit(func() { committed = true })
		seq, err := tx.AppendEvent(testEvent("r-1", "created"))
		if seq != 1 {
			t.Errorf("first seq after a failed Update = %d, want 1", seq)
		}
		n, _ := tx.NextCounter("ref")
		if n != 1 {
			t.Errorf("counter after a failed Update = %d, want 1", n)
		}
		c := testCommand("r-1", "create")
		if err := tx.Enqueue(c); err != nil {
			return err
		}
		if c.ID != 1 {
			t.Errorf("first command ID after a failed Update = %d, want 1", c.ID)
		}
		return err
	})
	if !committed {
		t.Error("OnCommit did not run")
	}
}

func TestClosedDB(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	if err := db.View(func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("View after Close = %v, want ErrClosed", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
