package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// After a large prune, Open compacts the file: it shrinks, and every record,
// ID sequence, event sequence and counter carries on.
func TestCompactAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	db, err := Open(path, Options{Retention: time.Hour, EventRetention: 1000 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range 3000 {
			s := testSale(fmt.Sprintf("r-%05d", i), 20)
			if i%1000 != 0 {
				s.Final, s.FinishedAt = true, t0
			}
			if err := tx.CreateSale(s); err != nil {
				return err
			}
			if _, err := tx.AppendEvent(testEvent(s.Reference, "created")); err != nil {
				return err
			}
			if _, err := tx.NextCounter("till-1"); err != nil {
				return err
			}
			c := testCommand(s.Reference, "create")
			if err := tx.Enqueue(c); err != nil {
				return err
			}
			if s.Final {
				if err := tx.DeleteCommand(c.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if _, err := db.Prune(t0.Add(48 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	before := mustStats(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openTestDB(t, path, Options{CompactMinFree: 1 << 20, EventRetention: 1000 * time.Hour})
	after := mustStats(t, db)
	t.Logf("file %d → %d bytes (%d free before)", before.FileSize, after.FileSize, before.FreeBytes)
	if after.FileSize > before.FileSize/2 {
		t.Errorf("file %d bytes after compaction, was %d", after.FileSize, before.FileSize)
	}
	before.FileSize, before.FreeBytes, after.FileSize, after.FreeBytes = 0, 0, 0, 0
	if !reflect.DeepEqual(after, before) {
		t.Errorf("stats after compaction %+v, before %+v", after, before)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		sales, err := tx.UnfinishedSales()
		if err != nil {
			return err
		}
		if len(sales) != 3 {
			t.Errorf("%d unfinished sales, want 3", len(sales))
		}
		c := testCommand("r-new", "create")
		if err := tx.Enqueue(c); err != nil {
			return err
		}
		if c.ID != 3001 {
			t.Errorf("command ID after compaction = %d, want 3001", c.ID)
		}
		seq, err := tx.AppendEvent(testEvent("r-new", "x"))
		if seq != 3001 {
			t.Errorf("event seq after compaction = %d, want 3001", seq)
		}
		n, _ := tx.NextCounter("till-1")
		if n != 3001 {
			t.Errorf("counter after compaction = %d, want 3001", n)
		}
		return err
	})
	if got := dirNames(t, filepath.Dir(path)); !reflect.DeepEqual(got, []string{"tillbox.db", "tillbox.db.journal", "tillbox.db.pid"}) {
		t.Errorf("directory holds %v", got)
	}
}

func TestCompactFile(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "tillbox.db"), filepath.Join(dir, "compact.db")
	filledDB(t, src, 300)
	if err := Compact(src, dst); err != nil {
		t.Fatal(err)
	}
	a := openTestDB(t, src, Options{})
	b := openTestDB(t, dst, Options{})
	sa, sb := mustStats(t, a), mustStats(t, b)
	sa.FileSize, sa.FreeBytes, sb.FileSize, sb.FreeBytes = 0, 0, 0, 0
	if sa != sb {
		t.Errorf("compacted copy %+v, original %+v", sb, sa)
	}
	// dst must be new; src must not be held by a running tillbox.
	if err := Compact(src, dst); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Compact onto an existing file = %v, want ErrExist", err)
	}
	if err := Compact(src, filepath.Join(dir, "other.db")); !errors.Is(err, ErrLocked) {
		t.Errorf("Compact of an open database = %v, want ErrLocked", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused Compact left %v", err)
	}
}
