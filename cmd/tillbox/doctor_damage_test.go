package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// eventsSecondBroken writes events 1 to 3 into the database at dbPath,
// then breaks event 2's JSON as a bad sector or a bug would.
func eventsSecondBroken(t *testing.T, dbPath string) {
	t.Helper()
	db := storetest.Open(t, dbPath, store.Options{})
	for i := range 3 {
		if err := db.Update(func(tx *store.Tx) error {
			_, err := tx.AppendEvent(&store.Event{Reference: "tb-t1-0000" + string(rune('1'+i)), Kind: "sale", At: time.Now(), Data: []byte(`{}`)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	storetest.DamageEvent(t, dbPath, 2)
}

// TestDoctorFindsDamagedRecord: one event with broken JSON. doctor, with
// tillbox stopped, runs the deep check and fails naming the record and the
// restore; with tillbox running (the file locked), it fails from the
// running tillbox's /readyz, whose store check names the record.
func TestDoctorFindsDamagedRecord(t *testing.T) {
	cfg, dbPath := doctorBox(t, "http://127.0.0.1:1", false)
	eventsSecondBroken(t, dbPath)

	out, err := runDoctorCmd(t, "--config", cfg, "--timeout", "2s")
	t.Logf("stopped:\n%s", out)
	if err == nil || !strings.Contains(out, "FAIL  database") || !strings.Contains(out, "event 2 (key 0000000000000002) does not decode") ||
		!strings.Contains(out, "To restore") {
		t.Fatalf("doctor on a stopped box with a damaged event: %v\n%s", err, out)
	}

	logs := agenttest.NewLogs()
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- run(ctx, []string{"run", "--config", cfg, "--listen", "127.0.0.1:0"}, logs, logs) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("tillbox run did not stop\n%s", logs)
		}
	}()
	api := waitPrinted(t, logs, done, `POS API on (http://127\.0\.0\.1:\d+)/api/v1/`)
	u, err := url.Parse(api)
	if err != nil {
		t.Fatal(err)
	}
	// /readyz names the record once the store's check at start found it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var rd posapi.Readiness
		resp, err := http.Get(api + posapi.PathReadyz)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&rd)
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusServiceUnavailable && len(rd.Checks) > 0 && !rd.Checks[0].OK {
			if !strings.Contains(rd.Checks[0].Detail, "event 2") {
				t.Fatalf("/readyz store check: %+v", rd.Checks[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not report the damaged event within 30 s (last: %v %+v)\n%s", err, rd, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "event 2") {
		t.Errorf("no ERROR naming the record in the log:\n%s", logs)
	}

	// doctor reads the configuration's pos.listen: where this one listens.
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.Replace(string(text), `listen = "127.0.0.1:0"`, `listen = "`+u.Host+`"`, 1)) // [pos] comes first
	if err := os.WriteFile(cfg, text, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runDoctorCmd(t, "--config", cfg, "--timeout", "2s")
	t.Logf("running:\n%s", out)
	if err == nil || !strings.Contains(out, "FAIL  database   "+dbPath+" is in use by the running tillbox") || !strings.Contains(out, "event 2 cannot be read") {
		t.Fatalf("doctor on a running box with a damaged event: %v\n%s", err, out)
	}
}
