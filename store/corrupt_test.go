package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// filledDB makes a database of a few MB with sales, commands and events.
func filledDB(t *testing.T, path string, sales int) {
	t.Helper()
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range sales {
			ref := fmt.Sprintf("r-%06d", i)
			if err := tx.CreateSale(testSale(ref, 5)); err != nil {
				return err
			}
			if err := tx.Enqueue(testCommand(ref, "create")); err != nil {
				return err
			}
			if _, err := tx.AppendEvent(testEvent(ref, "created")); err != nil {
				return err
			}
		}
		return nil
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Every kind of damaged file is refused with ErrCorrupt and a message on how
// to restore, and left exactly as it was (bytes, size, mtime), with nothing
// created beside it.
func TestCorruptFilesAreRefusedUntouched(t *testing.T) {
	pageSize := int64(os.Getpagesize())
	cases := map[string]func(t *testing.T, path string){
		"empty file": func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"text file": func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("[store]\npath = \"/var/lib/tillbox\"\n", 300)), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"random garbage": func(t *testing.T, path string) {
			if err := os.WriteFile(path, randomBytes(64<<10), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"zeroed meta pages": func(t *testing.T, path string) {
			filledDB(t, path, 500)
			overwrite(t, path, 0, make([]byte, 2*pageSize))
		},
		"truncated to half": func(t *testing.T, path string) {
			filledDB(t, path, 2000)
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		},
		"truncated to one page": func(t *testing.T, path string) {
			filledDB(t, path, 10)
			if err := os.Truncate(path, pageSize); err != nil {
				t.Fatal(err)
			}
		},
		"garbage after the meta pages": func(t *testing.T, path string) {
			filledDB(t, path, 500)
			fi, _ := os.Stat(path)
			overwrite(t, path, 2*pageSize, randomBytes(int(fi.Size()-2*pageSize)))
		},
		"zeroed after the meta pages": func(t *testing.T, path string) {
			filledDB(t, path, 500)
			fi, _ := os.Stat(path)
			overwrite(t, path, 2*pageSize, make([]byte, fi.Size()-2*pageSize))
		},
	}
	for name, makeFile := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "tillbox.db")
			makeFile(t, path)
			before := digest(t, path)
			names := dirNames(t, dir)

			db, err := Open(path, Options{})
			if err == nil {
				db.Close()
				t.Fatal("Open accepted a corrupt file")
			}
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
				t.Fatalf("Open = %v, want a *CorruptError", err)
			}
			for _, want := range []string{"database " + path + " is corrupt", "left untouched", "stop tillbox", "mv " + path, "tillbox backup"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q: %v", want, err)
				}
			}
			if after := digest(t, path); after != before {
				t.Error("Open changed the corrupt file")
			}
			if got := dirNames(t, dir); !reflect.DeepEqual(got, names) {
				t.Errorf("directory became %v, was %v", got, names)
			}
			t.Log(err)
		})
	}
}

// A damaged page deep inside the file is beyond Open's cheap checks, but
// Verify finds it, without crashing and without writing.
func TestVerifyFindsDamagedPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	filledDB(t, path, 2000)

	// Pick a leaf page in the middle of the file.
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	var leaf int
	var pageSize int
	_ = bdb.View(func(tx *bolt.Tx) error {
		pageSize = bdb.Info().PageSize
		pages := int(tx.Size()) / pageSize
		for id := pages / 2; id < pages; id++ {
			if p, _ := tx.Page(id); p != nil && p.Type == "leaf" {
				leaf = id
				return nil
			}
		}
		return nil
	})
	bdb.Close()
	if leaf == 0 {
		t.Fatal("no leaf page found")
	}
	// Keep the page header, scramble the elements and data.
	overwrite(t, path, int64(leaf*pageSize+16), randomBytes(pageSize-16))
	before := digest(t, path)

	db, err := Open(path, Options{CompactMinFree: -1})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want nil or ErrCorrupt", err)
		}
		return // caught early: fine too
	}
	err = db.Verify()
	db.Close()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify = %v, want ErrCorrupt", err)
	}
	t.Log(err)
	if after := digest(t, path); after.sum != before.sum {
		t.Error("Verify changed the file")
	}
}

// bbolt writes the two meta pages alternately, so a torn meta write (a power
// cut during a commit) leaves the other one valid: the file opens at the
// last complete commit, and the next commits rewrite the torn page.
func TestOneDamagedMetaPageIsRecovered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tillbox.db")
	filledDB(t, path, 100)
	overwrite(t, path, 0, randomBytes(512))
	db := openTestDB(t, path, Options{})
	if st := mustStats(t, db); st.Sales != 100 {
		t.Errorf("%d sales, want 100", st.Sales)
	}
	for i := range 2 {
		mustUpdate(t, db, func(tx *Tx) error { return tx.CreateSale(testSale(fmt.Sprintf("new-%d", i), 1)) })
	}
	// The cleanup's Verify checks both meta pages again.
}
