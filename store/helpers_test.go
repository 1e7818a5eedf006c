package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// t0 is the tests' "now".
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newTestDB opens a new database in a temporary directory (see openTestDB).
func newTestDB(t testing.TB, opts Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tillbox.db")
	return openTestDB(t, path, opts), path
}

// openTestDB opens path for a test. When the test ends it closes the
// database, opens the file again and runs Verify: every test leaves a
// file that opens and is consistent, page by page and index by index.
func openTestDB(t testing.TB, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		mustVerifyFile(t, path)
	})
	return db
}

// mustVerifyFile opens path and runs Verify.
func mustVerifyFile(t testing.TB, path string) {
	t.Helper()
	db, err := Open(path, Options{CompactMinFree: -1})
	if err != nil {
		t.Errorf("reopen %s: %v", path, err)
		return
	}
	defer db.Close()
	if err := db.Verify(); err != nil {
		t.Errorf("Verify %s: %v", path, err)
	}
}

// reopen closes db and opens its file again (checked again at the end).
func reopen(t testing.TB, db *DB, opts Options) *DB {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openTestDB(t, db.Path(), opts)
}

func mustUpdate(t testing.TB, db *DB, fn func(*Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func mustView(t testing.TB, db *DB, fn func(*Tx) error) {
	t.Helper()
	if err := db.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func mustStats(t testing.TB, db *DB) Stats {
	t.Helper()
	st, err := db.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// testSale is a plausible sale with a receipt of n lines.
func testSale(ref string, n int) *Sale {
	type line struct {
		Name     string `json:"name"`
		Quantity int    `json:"quantity"`
		Amount   int64  `json:"totalAmount"`
	}
	lines := make([]line, n)
	for i := range lines {
		lines[i] = line{Name: fmt.Sprintf("Item %d, a fine thing", i), Quantity: 1 + i%3, Amount: int64(1000 + i)}
	}
	receipt, _ := json.Marshal(map[string]any{"orderLines": lines, "bottomLine": map[string]any{"currency": "NOK", "posId": "till-1"}})
	return &Sale{
		Reference:   ref,
		Till:        "till-1",
		Amount:      12900,
		Currency:    "NOK",
		Description: "Groceries",
		Customer:    Customer{PersonalQR: "https://qr.vipps.no/p/" + ref},
		Receipt:     receipt,
		State:       "created",
		CreatedAt:   t0,
		UpdatedAt:   t0,
	}
}

func testCommand(ref, kind string) *Command {
	return &Command{
		Reference:      ref,
		Kind:           kind,
		IdempotencyKey: ref + "-" + kind,
		Body:           json.RawMessage(`{"reference":"` + ref + `","amount":{"value":12900,"currency":"NOK"}}`),
		CreatedAt:      t0,
	}
}

func testEvent(ref, state string) *Event {
	return &Event{Reference: ref, Kind: "sale", State: state, Data: json.RawMessage(`{"amount":12900}`), At: t0}
}

// fileDigest identifies a file's bytes, size and mtime, to prove it was not
// touched.
type fileDigest struct {
	sum   [32]byte
	size  int64
	mtime time.Time
}

func digest(t testing.TB, path string) fileDigest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileDigest{sha256.Sum256(b), fi.Size(), fi.ModTime()}
}

// dirNames lists a directory, to check that nothing was left behind.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func jsonEqual(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

func copyFile(tb testing.TB, src, dst string) {
	tb.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}
