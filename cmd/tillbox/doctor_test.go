package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

// doctorBox writes a configuration against vippsURL, with its data folder
// and, when withDB, its database.
func doctorBox(t *testing.T, vippsURL string, withDB bool) (cfg, dbPath string) {
	t.Helper()
	dir := t.TempDir()
	cfg = testConfig(t, dir, vippsURL, "127.0.0.1:0", "")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	dbPath = filepath.Join(data, "tillbox.db")
	if withDB {
		db, err := store.Open(dbPath, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, dbPath
}

func runDoctorCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"doctor"}, args...), &out, io.Discard)
	return out.String(), err
}

// TestDoctor: a healthy box reports every check ok; a database held by a
// running tillbox is fine; Vipps MobilePay out of reach is a warning (the
// box works offline); a broken configuration fails with exit status 1.
func TestDoctor(t *testing.T) {
	s := sim.New(sim.Options{})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })

	cfg, dbPath := doctorBox(t, simHTTP.URL, true)
	out, err := runDoctorCmd(t, "--config", cfg)
	if err != nil {
		t.Fatalf("doctor on a healthy box: %v\n%s", err, out)
	}
	for _, want := range []string{"ok    clock", "ok    config", "ok    data", "ok    database", "0 sales", "ok    vipps"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "client-secret-of-the-tests") || strings.Contains(out, "subscription-key-of-the-tests") || strings.Contains(out, testToken) {
		t.Errorf("the report shows a secret:\n%s", out)
	}

	db, err := store.Open(dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err = runDoctorCmd(t, "--config", cfg)
	db.Close()
	if err != nil || !strings.Contains(out, "in use by the running tillbox") {
		t.Errorf("doctor with the database in use: %v\n%s", err, out)
	}

	cfg, _ = doctorBox(t, "http://127.0.0.1:1", false)
	out, err = runDoctorCmd(t, "--config", cfg, "--timeout", "2s")
	if err != nil || !strings.Contains(out, "WARN  vipps      offline? cannot connect") || !strings.Contains(out, "WARN  database") {
		t.Errorf("doctor offline, before the first run: %v\n%s", err, out)
	}

	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("[box]\ntill = \"\"\nnonsense = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runDoctorCmd(t, "--config", bad)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "FAIL  config") {
		t.Errorf("doctor with a broken configuration: %v\n%s", err, out)
	}
}

// TestDoctorTLSAndClock: a TLS peer the box cannot trust fails the check
// (and says to look at the clock); a clock in 1970 fails.
func TestDoctorTLSAndClock(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler()) // its certificate is nobody's
	defer srv.Close()
	_, status, detail := reach(context.Background(), srv.URL, 2*time.Second)
	if status != "fail" || !strings.Contains(detail, "TLS with 127.0.0.1 fails") {
		t.Errorf("reach(%s) = %s, %s", srv.URL, status, detail)
	}
	if got := clockStatus(time.Unix(0, 0)); got != "fail" {
		t.Errorf("a clock in 1970 is %s", got)
	}
	if got := clockStatus(time.Now()); got != "ok" {
		t.Errorf("the clock now is %s", got)
	}
}
