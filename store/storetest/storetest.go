// Package storetest opens stores for tests in other packages and checks the
// file each test leaves: when the test ends the store is closed, the file
// opened again and [store.DB.Verify] run on it (page by page, index by
// index). A failed check is a test error, so every test that writes
// through a store also proves it leaves a file that opens and is whole.
//
// A test that damages a file on purpose says so with [Damaged] (or uses
// [DamageEvent], which does): the check is skipped for that file only.
package storetest

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tillbox/tillbox/store"
	bolt "go.etcd.io/bbolt"
)

// damaged holds the paths tests damaged on purpose (path → struct{}). They
// are never forgotten: each is in a test's own temporary directory.
var damaged sync.Map

// New opens a new store named tillbox.db in t.TempDir() (see [Open]) and
// returns it with its path.
func New(t testing.TB, opts store.Options) (*store.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tillbox.db")
	return Open(t, path, opts), path
}

// Open opens the store at path with opts, failing the test when it cannot.
// When the test ends it closes the store (a test may close it before: Close
// is idempotent), opens the file again and verifies it, unless the test
// marked it [Damaged].
func Open(t testing.TB, path string, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("store.Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("store: close %s: %v", path, err)
		}
		Verify(t, path, opts)
	})
	return db
}

// Verify opens the closed store at path (with opts' journal setting; never
// compacting) and verifies it; a problem is a test error. It does nothing
// for a file marked [Damaged].
func Verify(t testing.TB, path string, opts store.Options) {
	t.Helper()
	if _, ok := damaged.Load(path); ok {
		return
	}
	db, err := store.Open(path, store.Options{NoJournal: opts.NoJournal, NoSync: opts.NoSync, CompactMinFree: -1})
	if err != nil {
		t.Errorf("store check after the test: open %s: %v", path, err)
		return
	}
	defer db.Close()
	if err := db.Verify(); err != nil {
		t.Errorf("store check after the test: %v", err)
	}
}

// Damaged says the test damages the file at path on purpose: the check
// when the test ends is skipped for it.
func Damaged(path string) {
	damaged.Store(path, struct{}{})
}

// DamageEvent breaks the record of event seq in the closed store at path
// (its JSON cut short, as a bad sector or a bug would leave it) and marks
// the file [Damaged]. The store's own checks then name event seq.
func DamageEvent(t testing.TB, path string, seq uint64) {
	t.Helper()
	Damaged(path)
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("damaging %s: %v", path, err)
	}
	defer bdb.Close()
	if err := bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("events")).Put(binary.BigEndian.AppendUint64(nil, seq), fmt.Appendf(nil, `{"seq":%d,"kind":`, seq))
	}); err != nil {
		t.Fatalf("damaging event %d in %s: %v", seq, path, err)
	}
}
