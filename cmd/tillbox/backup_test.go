package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// newDB makes a real database with n sales at path and closes it.
func newDB(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t, path, store.Options{})
	defer db.Close()
	addSales(t, db, 0, n)
}

func addSales(t *testing.T, db *store.DB, from, n int) {
	t.Helper()
	now := time.Now()
	err := db.Update(func(tx *store.Tx) error {
		for i := from; i < from+n; i++ {
			s := &store.Sale{Reference: "tb-t1-" + strings.Repeat("0", 5) + string(rune('a'+i)), Till: "t1", Amount: 1000,
				Currency: "NOK", State: "completed", CreatedAt: now, UpdatedAt: now}
			if err := tx.CreateSale(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// salesIn opens a backup (as a copy: no journal beside it) and counts its
// sales.
func salesIn(t *testing.T, path string) int {
	t.Helper()
	db := storetest.Open(t, path, store.Options{NoJournal: true})
	defer db.Close()
	st, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st.Sales
}

func TestBackupOfAStoppedTill(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tillbox.db")
	newDB(t, src, 3)
	out := filepath.Join(dir, "backup.db")

	var stdout bytes.Buffer
	if err := run(t.Context(), []string{"backup", "--db", src, out}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), out+": backup of "+src+": ") || !strings.Contains(stdout.String(), "checked: 3 sales") {
		t.Errorf("backup printed %q", stdout.String())
	}
	if n := salesIn(t, out); n != 3 {
		t.Errorf("backup holds %d sales", n)
	}

	// Through the configuration; a second backup replaces the first.
	cfg := testConfig(t, dir, "http://127.0.0.1:8090", "127.0.0.1:0", "")
	newDB(t, filepath.Join(dir, "data", "tillbox.db"), 5)
	stdout.Reset()
	if err := run(t.Context(), []string{"backup", "--config", cfg, out}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := salesIn(t, out); n != 5 || !strings.Contains(stdout.String(), "checked: 5 sales") {
		t.Errorf("backup holds %d sales; printed %q", n, stdout.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 5 { // tillbox.db and its journal, backup.db, tillbox.toml, data
		t.Errorf("files left behind: %v", entries)
	}
}

func TestBackupRefusals(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "backup.db")
	missing := filepath.Join(dir, "none.db")
	if err := run(t.Context(), []string{"backup", "--db", missing, out}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "there is no database at "+missing) {
		t.Errorf("missing database: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Error("backup created the database it was to copy")
	}

	// A corrupt file gets the store's message: untouched, how to restore.
	corrupt := filepath.Join(dir, "corrupt.db")
	garbage := bytes.Repeat([]byte("not a database "), 1000)
	if err := os.WriteFile(corrupt, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(t.Context(), []string{"backup", "--db", corrupt, out}, io.Discard, io.Discard)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "To restore") {
		t.Errorf("corrupt database: %v", err)
	}
	if b, _ := os.ReadFile(corrupt); !bytes.Equal(b, garbage) {
		t.Error("the corrupt file was changed")
	}

	// Backing a database up onto itself.
	src := filepath.Join(dir, "tillbox.db")
	newDB(t, src, 1)
	if err := run(t.Context(), []string{"backup", "--db", src, src}, io.Discard, io.Discard); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("backup onto itself: %v", err)
	}

	for _, args := range [][]string{{"backup"}, {"backup", "--db", src}, {"backup", "--db", src, "--config", "x", out}, {"backup", "--db", src, out, "extra"}} {
		if err := run(t.Context(), args, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestBackupWhileRunning: a running tillbox holds the lock. With --db the
// backup says so; with --config it asks the running tillbox over
// GET /api/v1/backup, which a POS API may or may not have.
func TestBackupWhileRunning(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "data", "tillbox.db")
	newDB(t, src, 2)
	db := storetest.Open(t, src, store.Options{})
	defer db.Close()
	out := filepath.Join(dir, "backup.db")

	err := run(t.Context(), []string{"backup", "--db", src, out}, io.Discard, io.Discard)
	var locked *store.LockedError
	if !errors.As(err, &locked) || !strings.Contains(err.Error(), "locked by another tillbox (pid") ||
		!strings.Contains(err.Error(), "tillbox is running") || !strings.Contains(err.Error(), "GET /api/v1/backup") {
		t.Errorf("locked: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Error("a backup file was written")
	}

	// A POS API with the route: the backup comes through it.
	var (
		mu     sync.Mutex
		asked  http.Header
		answer = "backup" // or "none", "garbage"
	)
	api := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = r.Header
		mode := answer
		mu.Unlock()
		switch {
		case mode == "none" || r.URL.Path != PathBackup || r.Method != http.MethodGet:
			http.NotFound(w, r)
		case mode == "garbage":
			_, _ = w.Write([]byte("<html>hello</html>"))
		default:
			w.Header().Set("Content-Type", "application/octet-stream")
			if _, err := db.Backup(w); err != nil {
				t.Error(err)
			}
		}
	}
	setAnswer := func(mode string) { mu.Lock(); answer = mode; mu.Unlock() }
	srv := httptest.NewServer(http.HandlerFunc(api))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	// A listen address on every interface is dialled on loopback.
	cfg := testConfig(t, dir, "http://127.0.0.1:8090", "0.0.0.0:"+port, "")
	addSales(t, db, 2, 1)
	var stdout bytes.Buffer
	if err := run(t.Context(), []string{"backup", "--config", cfg, out}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	auth := asked.Get("Authorization")
	mu.Unlock()
	if auth != "Bearer "+testToken {
		t.Errorf("Authorization = %q", auth)
	}
	if n := salesIn(t, out); n != 3 || !strings.Contains(stdout.String(), "through the running tillbox: ") {
		t.Errorf("backup holds %d sales; printed %q", n, stdout.String())
	}
	before, _ := os.ReadFile(out)

	// A POS API without the route: a clear message, the old backup kept.
	setAnswer("none")
	err = run(t.Context(), []string{"backup", "--config", cfg, out}, io.Discard, io.Discard)
	if !errors.As(err, &locked) || !strings.Contains(err.Error(), "has no GET /api/v1/backup yet") {
		t.Errorf("no route: %v", err)
	}
	// A POS API answering something that is not a database.
	setAnswer("garbage")
	err = run(t.Context(), []string{"backup", "--config", cfg, out}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is not a good database") || !strings.Contains(err.Error(), "left as it was") {
		t.Errorf("garbage: %v", err)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("the previous backup was changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 { // data, tillbox.toml, backup.db
		t.Errorf("files left behind: %v", entries)
	}
}
