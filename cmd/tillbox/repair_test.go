package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// TestRepairJournal: on the files a damaged journal leaves, the database
// refuses to open with the command to run; that command writes a checked
// copy, lists each record kept and each not kept by sale, changes neither
// original, and the copy, put in place as it says, opens with the kept sale.
func TestRepairJournal(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tillbox.db")
	for _, f := range []string{"tillbox.db", "tillbox.db.journal"} {
		b, err := os.ReadFile(filepath.Join("testdata", "damaged-journal", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sum := func(p string) [32]byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	dbSum, jSum := sum(db), sum(db+".journal")

	// store.Open, not storetest: the point is the error a damaged journal gives.
	_, err := store.Open(db, store.Options{})
	var jerr *store.JournalError
	if !errors.As(err, &jerr) || !strings.Contains(err.Error(), "`tillbox repair journal --db "+db+"`") {
		t.Fatalf("Open: %v, want the journal's damage and the command", err)
	}

	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"repair", "journal", "--db", db}, &stdout, &stderr); err != nil {
		t.Fatalf("repair journal: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		db + ".repaired: journal records replayed onto a copy of " + db + ", checked: 1 sales",
		"kept      record 1: sales ref-00",
		"NOT KEPT  record 2 at byte 4096: damaged: sales ref-01",
		"NOT KEPT  record 5: checks, but follows a damaged record: sales ref-04",
		"4 record(s) could not be kept",
		"mv " + db + ".repaired " + db,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if sum(db) != dbSum || sum(db+".journal") != jSum {
		t.Error("repair journal changed the originals")
	}
	for _, mv := range [][2]string{{db, db + ".damaged"}, {db + ".journal", db + ".journal.damaged"}, {db + ".repaired", db}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	rdb := storetest.Open(t, db, store.Options{}) // the repaired copy put in place
	if err := rdb.View(func(tx *store.Tx) error { _, err := tx.Sale("ref-00"); return err }); err != nil {
		t.Errorf("ref-00: %v", err)
	}
	if err := rdb.Verify(); err != nil {
		t.Error(err)
	}
}

// TestRunRefusesDamagedJournal: tillbox run does not start on a journal
// with a damaged record inside its chain, and its error (what systemd's
// journal shows) and doctor both print the command that salvages it.
func TestRunRefusesDamagedJournal(t *testing.T) {
	cfg, db := doctorBox(t, "http://127.0.0.1:1", false)
	for _, f := range []string{"tillbox.db", "tillbox.db.journal"} {
		b, err := os.ReadFile(filepath.Join("testdata", "damaged-journal", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(db), f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var logs agenttest.Logs
	err := run(context.Background(), []string{"run", "--config", cfg, "--listen", "127.0.0.1:0"}, &logs, &logs)
	fix := "`tillbox repair journal --db " + db + "`"
	if err == nil || !strings.Contains(err.Error(), fix) || !strings.Contains(err.Error(), "record 2 (at byte 4096)") {
		t.Fatalf("tillbox run on a damaged journal: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "ref-04") {
		t.Errorf("no ERROR naming the sales:\n%s", logs.String())
	}
	out, err := runDoctorCmd(t, "--config", cfg, "--timeout", "2s")
	if err == nil || !strings.Contains(out, "FAIL  database") || !strings.Contains(out, fix) {
		t.Errorf("doctor on a damaged journal: %v\n%s", err, out)
	}
}
