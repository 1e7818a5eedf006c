package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

// A backup taken while a writer commits is one consistent moment: every
// commit wrote a sale, an event and a counter increment together, and the
// copy holds the same number of each.
func TestBackupWhileWriting(t *testing.T) {
	db, _ := newTestDB(t, Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error // the writer's, read after wg.Wait
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			writeErr = db.Update(func(tx *Tx) error {
				n, err := tx.NextCounter("sales")
				if err != nil {
					return err
				}
				ref := fmt.Sprintf("r-%06d", n)
				if err := tx.CreateSale(testSale(ref, 1+i%50)); err != nil {
					return err
				}
				_, err = tx.AppendEvent(testEvent(ref, "created"))
				return err
			})
			if writeErr != nil {
				return
			}
		}
	}()

	dir := t.TempDir()
	var backups []string
	for i := range 5 {
		// Let the writer get ahead, then copy while it goes on.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if st := mustStats(t, db); st.Sales >= 20*(i+1) {
				break
			}
		}
		var buf bytes.Buffer
		n, err := db.Backup(&buf)
		if err != nil || n != int64(buf.Len()) {
			t.Fatalf("Backup = %d, %v; wrote %d", n, err, buf.Len())
		}
		path := filepath.Join(dir, fmt.Sprintf("backup-%d.db", i))
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		backups = append(backups, path)
	}
	close(stop)
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("writer: %v", writeErr)
	}

	last := 0
	for _, path := range backups {
		b := openTestDB(t, path, Options{})
		st := mustStats(t, b)
		var counter uint64
		mustView(t, b, func(tx *Tx) error {
			sales, err := tx.Sales("", 0)
			for i, s := range sales {
				if want := fmt.Sprintf("r-%06d", i+1); s.Reference != want {
					t.Fatalf("%s: sale %d is %s, want %s", path, i, s.Reference, want)
				}
			}
			counter = uint64(len(sales))
			return err
		})
		if st.Sales != int(st.LastSeq) || st.Events != st.Sales || uint64(st.Sales) != counter {
			t.Errorf("%s: %+v is not one moment", path, st)
		}
		if st.Sales < last {
			t.Errorf("%s: %d sales, fewer than the backup before (%d)", path, st.Sales, last)
		}
		last = st.Sales
		// The copy carries on like the original.
		mustUpdate(t, b, func(tx *Tx) error {
			n, err := tx.NextCounter("sales")
			if err == nil && n != uint64(st.Sales)+1 {
				t.Errorf("%s: counter continues at %d, want %d", path, n, st.Sales+1)
			}
			return err
		})
	}
	t.Logf("backups hold %d sales at the last; the writer went on", last)
}

func TestBackupFile(t *testing.T) {
	db, dbPath := newTestDB(t, Options{})
	dir := t.TempDir()
	path := filepath.Join(dir, "tillbox-backup.db")
	add := func(ref string) {
		mustUpdate(t, db, func(tx *Tx) error { return tx.CreateSale(testSale(ref, 2)) })
	}
	add("r-1")
	if err := db.BackupFile(path); err != nil {
		t.Fatal(err)
	}
	add("r-2")
	// A second backup replaces the first whole, leaving no temporary file.
	if err := db.BackupFile(path); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !reflect.DeepEqual(got, []string{"tillbox-backup.db"}) {
		t.Errorf("backup directory holds %v", got)
	}

	if err := db.BackupFile(dbPath); !errors.Is(err, ErrInvalid) {
		t.Errorf("BackupFile onto the database itself = %v, want ErrInvalid", err)
	}
	if err := db.BackupFile(filepath.Join(dir, "missing", "b.db")); err == nil {
		t.Error("BackupFile into a missing directory succeeded")
	}
	if got := dirNames(t, dir); !reflect.DeepEqual(got, []string{"tillbox-backup.db"}) {
		t.Errorf("after failures the backup directory holds %v", got)
	}

	b := openTestDB(t, path, Options{})
	if st := mustStats(t, b); st.Sales != 2 {
		t.Errorf("backup holds %d sales, want 2", st.Sales)
	}
}
