package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBatchCommitsEveryCallOnce: many goroutines' Batch calls, some of
// which fail, all end as if each had been its own Update: every successful
// call's sale is stored and its OnCommit ran once, no failed call left
// anything, and each caller got its own error.
func TestBatchCommitsEveryCallOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	db := openTestDB(t, path, Options{})
	errOdd := errors.New("odd calls fail")
	const n = 200
	var committed [n]atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ref := fmt.Sprintf("ref-%04d", i)
			err := db.Batch(func(tx *Tx) error {
				if err := tx.CreateSale(testSale(ref, 1)); err != nil {
					return err
				}
				if i%7 == 3 {
					return errOdd // after a write: the write must go too
				}
				tx.OnCommit(func() { committed[i].Add(1) })
				return nil
			})
			if want := i%7 == 3; (err != nil) != want || (want && !errors.Is(err, errOdd)) {
				t.Errorf("call %d: Batch = %v", i, err)
			}
		})
	}
	wg.Wait()
	mustView(t, db, func(tx *Tx) error {
		for i := range n {
			_, err := tx.Sale(fmt.Sprintf("ref-%04d", i))
			switch failed := i%7 == 3; {
			case failed && !errors.Is(err, ErrNotFound):
				t.Errorf("call %d failed but its sale is there (%v)", i, err)
			case !failed && err != nil:
				t.Errorf("call %d succeeded but its sale is not there: %v", i, err)
			}
			if got, want := committed[i].Load(), int32(map[bool]int{true: 0, false: 1}[i%7 == 3]); got != want {
				t.Errorf("call %d: OnCommit ran %d times, want %d", i, got, want)
			}
		}
		return nil
	})
	if st := mustStats(t, db); st.Sales != n-(n+3)/7 {
		t.Errorf("%d sales stored, want %d", st.Sales, n-(n+3)/7)
	}
}

// TestBatchAfterClose reports the closed database rather than hanging.
func TestBatchAfterClose(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "tillbox.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Batch(func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Batch after Close = %v, want ErrClosed", err)
	}
}
