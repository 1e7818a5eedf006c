package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/store"
)

const personalQR = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"

// till is `tillbox run` in this process, against a simulator.
type till struct {
	t       *testing.T
	dir     string
	config  string
	sim     *sim.Server
	url     string // of the POS API
	display string // the customer display's page
	client  *posapi.Client
	logs    *agenttest.Logs
	cancel  context.CancelFunc
	done    chan error
}

// startTill runs `tillbox run --config FILE --listen 127.0.0.1:0` until
// the test stops it, and waits until it serves.
func startTill(t *testing.T, vippsExtra string, args ...string) *till {
	t.Helper()
	return startTillSim(t, sim.Options{}, vippsExtra, args...)
}

// startTillSim is startTill against a simulator with simOpts (the customer
// approves after 30 ms unless they say otherwise).
func startTillSim(t *testing.T, simOpts sim.Options, vippsExtra string, args ...string) *till {
	t.Helper()
	if simOpts.App.Action == 0 {
		simOpts.App = sim.AppPolicy{Action: sim.Approve, Delay: 30 * time.Millisecond}
	}
	s := sim.New(simOpts)
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	dir := t.TempDir()
	tl := &till{t: t, dir: dir, sim: s, logs: agenttest.NewLogs(), done: make(chan error, 1)}
	tl.config = testConfig(t, dir, simHTTP.URL, "127.0.0.1:1", vippsExtra)

	ctx, cancel := context.WithCancel(context.Background())
	tl.cancel = cancel
	go func() {
		// The log and the notices both go to stdout, as under systemd.
		tl.done <- run(ctx, append([]string{"run", "--config", tl.config, "--listen", "127.0.0.1:0"}, args...), tl.logs, tl.logs)
	}()
	t.Cleanup(func() { tl.stop() })
	tl.url = waitPrinted(t, tl.logs, tl.done, `POS API on (http://127\.0\.0\.1:\d+)/api/v1/`)
	tl.display = waitPrinted(t, tl.logs, tl.done, `customer display on (http://127\.0\.0\.1:\d+/display/)`)
	tl.client = &posapi.Client{BaseURL: tl.url, Token: testToken}
	return tl
}

// stop cancels the run's context and returns what run returned.
func (tl *till) stop() error {
	if tl.cancel == nil {
		return nil
	}
	tl.cancel()
	tl.cancel = nil
	select {
	case err := <-tl.done:
		return err
	case <-time.After(15 * time.Second):
		tl.t.Fatalf("tillbox run did not stop\n%s", tl.logs)
		return nil
	}
}

func (tl *till) waitState(ref string, want agent.State) agent.Sale {
	tl.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := tl.client.GetSale(tl.t.Context(), ref)
		if err != nil {
			tl.t.Fatal(err)
		}
		if s.State == want {
			return s
		}
		if time.Now().After(deadline) {
			tl.t.Fatalf("sale %s is %s, want %s\n%s", ref, s.State, want, tl.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunTakesASale boots the whole agent as `tillbox run` does, takes a sale
// from the POS API to a captured payment at the simulator, refuses a second
// tillbox on the same data, and stops cleanly with a long-poll in flight.
func TestRunTakesASale(t *testing.T) {
	tl := startTill(t, "")
	ctx := t.Context()

	sale, created, err := tl.client.CreateSale(ctx, agent.SaleRequest{Amount: 49900, Currency: "NOK",
		Description: "Groceries", Customer: &agent.Customer{PersonalQR: personalQR}})
	if err != nil || !created {
		t.Fatalf("CreateSale: %v, created %v\n%s", err, created, tl.logs)
	}
	done := tl.waitState(sale.Reference, agent.Completed)
	if done.Aggregate.Captured != 49900 {
		t.Errorf("captured %d", done.Aggregate.Captured)
	}
	page, err := tl.client.Events(ctx, 0, 0, 100)
	if err != nil || len(page.Events) == 0 || page.Events[len(page.Events)-1].State != agent.Completed {
		t.Errorf("events: %+v, %v", page, err)
	}
	// Without the token, nothing.
	if _, err := (&posapi.Client{BaseURL: tl.url, Token: "wrong-token-0123456789"}).GetSale(ctx, sale.Reference); err == nil {
		t.Error("a wrong token was accepted")
	}

	// A second tillbox on the same data directory is refused at once, with
	// the holder named.
	var errOut agenttest.Logs
	err = run(ctx, []string{"run", "--config", tl.config, "--listen", "127.0.0.1:0"}, io.Discard, &errOut)
	var locked *store.LockedError
	if !errors.As(err, &locked) || !strings.Contains(err.Error(), "is locked by another tillbox (pid ") {
		t.Errorf("second run: %v", err)
	}
	// A backup with --db says the agent runs.
	err = run(ctx, []string{"backup", "--db", filepath.Join(tl.dir, "data", "tillbox.db"), filepath.Join(tl.dir, "b.db")}, io.Discard, io.Discard)
	if !errors.As(err, &locked) || !strings.Contains(err.Error(), "tillbox is running") {
		t.Errorf("backup while running: %v", err)
	}
	// With --config it is taken through the running agent's POS API.
	var bout bytes.Buffer
	live := filepath.Join(tl.dir, "live.db")
	if err := run(ctx, []string{"backup", "--config", tl.config, "--listen", strings.TrimPrefix(tl.url, "http://"), live}, &bout, io.Discard); err != nil {
		t.Fatalf("live backup: %v", err)
	}
	if n := salesIn(t, live); n != 1 {
		t.Errorf("live backup holds %d sales; printed %q", n, bout.String())
	}

	// A long-poll waiting for the next event does not hold up the stop.
	polled := make(chan error, 1)
	go func() {
		_, err := tl.client.Events(context.Background(), page.Next, 60*time.Second, 10)
		polled <- err
	}()
	time.Sleep(100 * time.Millisecond)
	// tl.stop gives up after 15 s, well before the long-poll's 60 s wait.
	if err := tl.stop(); err != nil {
		t.Fatalf("run returned %v\n%s", err, tl.logs)
	}
	select {
	case <-polled:
	case <-time.After(10 * time.Second): // a bound on a hang: the poll waits 60 s
		t.Error("the long-poll is still waiting after the stop")
	}
	logs := tl.logs.String()
	for _, want := range []string{"tillbox running", "sale accepted", "shutting down", "tillbox stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	for _, secret := range []string{testToken, "client-secret-of-the-tests", "subscription-key-of-the-tests"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log shows a secret")
		}
	}

	// Stopped, the database is free: a backup holds the sale.
	var out agenttest.Logs
	if err := run(ctx, []string{"backup", "--config", tl.config, filepath.Join(tl.dir, "b.db")}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "checked: 1 sales (0 unfinished)") {
		t.Errorf("backup printed %q", out.String())
	}
}

// TestRunWebhookRoute: POST /webhooks/vipps is served beside the POS API and
// refuses a delivery without a valid signature.
func TestRunWebhookRoute(t *testing.T) {
	tl := startTill(t, `webhook_url = "http://127.0.0.1:8080/webhooks/vipps"
webhook_secret = "webhook-secret-of-the-tests"`)
	resp, err := http.Post(tl.url+"/webhooks/vipps", "application/json", strings.NewReader(`{"reference":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned webhook: %s", resp.Status)
	}
	// Outside the API and the webhook: nothing.
	resp, err = http.Get(tl.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /: %s", resp.Status)
	}
	if err := tl.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tl.logs.String(), "webhook-secret-of-the-tests") {
		t.Error("the log shows the webhook secret")
	}
}

func TestRunRefusals(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "http://127.0.0.1:1", "127.0.0.1:0", "")
	ctx := t.Context()

	// Flags are checked with the file: each problem on its own line.
	var errOut agenttest.Logs
	err := run(ctx, []string{"run", "--config", cfg, "--listen", "nowhere", "--vipps-url", "http://10.1.2.3", "--scanner", "hid:zz"}, io.Discard, &errOut)
	if err == nil || err.Error() != cfg+": 3 problems" {
		t.Errorf("bad flags: %v", err)
	}
	for _, want := range []string{"pos.listen: \"nowhere\" is not HOST:PORT", "vipps.base_url: ", "scanner[1].match: "} {
		if !strings.Contains(errOut.String(), want+"") {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
	if err := run(ctx, []string{"run", "--config", cfg, "--scanner", "nonsense"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "DRIVER:MATCH") {
		t.Errorf("bad scanner spec: %v", err)
	}
	if err := run(ctx, []string{"run", "--config", filepath.Join(dir, "none.toml")}, io.Discard, io.Discard); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing config: %v", err)
	}
	if err := run(ctx, []string{"run", "--config", cfg, "extra"}, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("extra argument: %v", err)
	}

	// A corrupt database: the store's message, and the file untouched.
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	garbage := []byte(strings.Repeat("garbage!", 1024))
	if err := os.WriteFile(filepath.Join(data, "tillbox.db"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"run", "--config", cfg}, io.Discard, io.Discard)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "To restore") {
		t.Errorf("corrupt database: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "tillbox.db")); string(b) != string(garbage) {
		t.Error("the corrupt database was changed")
	}

	// An address already taken.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run(ctx, []string{"run", "--config", cfg, "--data-dir", t.TempDir(), "--listen", ln.Addr().String()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "pos.listen: ") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("address in use: %v", err)
	}
}

// TestRunScanPatterns: the [scan] patterns of the configuration decide
// what a scan must be: here only a tokenised code of one form.
func TestRunScanPatterns(t *testing.T) {
	tl := startTill(t, `
[[scan.pattern]]
name = "short-token"
expr = '^https://qr\.vipps\.no/p/[A-Za-z0-9]{16}$'
`)
	ctx := t.Context()
	res, err := tl.client.Scan(ctx, "https://qr.vipps.no/28/2/01/031/4712345678?v=1") // a default, not configured
	if err == nil || !strings.Contains(err.Error(), "not a personal QR code") {
		t.Errorf("clear-text code: %+v, %v; want refused", res, err)
	}
	res, err = tl.client.Scan(ctx, "https://qr.vipps.no/p/Lm3Vb8Qw1Zx6Pd0K")
	if err != nil || res.Outcome != "held" {
		t.Errorf("configured form: %+v, %v; want held for the next sale", res, err)
	}
}

// TestRunMakesDataDir: a data folder that does not exist yet is made
// (0750, as install.sh makes it); one that cannot be made is refused with
// an error naming it and what to do.
func TestRunMakesDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "new", "data")
	tl := startTill(t, "", "--data-dir", data)
	if err := tl.stop(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o750 {
		t.Errorf("data folder made %v, want 0750", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(data, "tillbox.db")); err != nil {
		t.Errorf("no database in the new data folder: %v", err)
	}

	dir := t.TempDir()
	cfg := testConfig(t, dir, "http://127.0.0.1:1", "127.0.0.1:0", "")
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(t.Context(), []string{"run", "--config", cfg, "--data-dir", filepath.Join(file, "data")}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(file, "data")) || !strings.Contains(err.Error(), "box.data_dir") {
		t.Errorf("a data folder that cannot be made: %v", err)
	}
}
