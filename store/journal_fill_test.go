package store

import (
	"fmt"
	"os"
	"testing"
)

func TestReviewFillPercentOfReplay(t *testing.T) {
	size := func(journaled bool) (int64, Stats) {
		db, path := newTestDB(t, Options{})
		for i := range 3000 {
			ref := fmt.Sprintf("ref-%06d", i)
			fn := func(tx *Tx) error { return tx.CreateSale(testSale(ref, 2)) }
			var err error
			if journaled {
				err = db.Journaled(fn)
			} else {
				err = db.Update(fn)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		db.flush()
		fi, _ := os.Stat(path)
		st := mustStats(t, db)
		return fi.Size() - st.FreeBytes, st
	}
	u, _ := size(false)
	j, _ := size(true)
	t.Logf("used bytes: Update %d KiB, Journaled %d KiB", u>>10, j>>10)
}
