package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/device"
)

// demoRun is `tillbox demo` in-process on loopback's free ports, with its
// terminal (in), its output and its log.
type demoRun struct {
	t        *testing.T
	data     string // --data-dir
	in       *io.PipeWriter
	out, log *agenttest.Logs
	done     chan error
	cancel   context.CancelFunc
	pos      string // the POS API's base URL
	tech     string // the technician page's URL
	code     string // its one-time code
}

func startDemo(t *testing.T, args ...string) *demoRun {
	t.Helper()
	d := &demoRun{t: t, data: filepath.Join(t.TempDir(), "data"), out: agenttest.NewLogs(), log: agenttest.NewLogs(), done: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	d.cancel = cancel
	pr, pw := io.Pipe()
	d.in = pw
	args = append([]string{"--data-dir", d.data, "--listen", "127.0.0.1:0", "--display-listen", "127.0.0.1:0",
		"--console-listen", "127.0.0.1:0", "--approve-after", "100ms"}, args...)
	go func() { d.done <- runDemoWithInput(ctx, args, pr, d.out, d.log) }()
	t.Cleanup(d.stop)
	d.pos = waitPrinted(t, d.out, d.done, `POS API +(http://127\.0\.0\.1:\d+)/api/v1`)
	d.tech = waitPrinted(t, d.out, d.done, `technician +(http://127\.0\.0\.1:\d+/technician/)`)
	d.code = waitPrinted(t, d.out, d.done, `one-time code (\d{5}-\d{5})`)
	return d
}

// stop interrupts the demo as Ctrl-C does and waits for it.
func (d *demoRun) stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	d.in.Close()
	if err := <-d.done; err != nil && !errors.Is(err, context.Canceled) {
		d.t.Errorf("demo: %v\n%s", err, d.log)
	}
}

// The demo serves what `tillbox run` serves beside the POS API: the
// probes and /metrics ([metrics] enabled, no listener of its own).
func TestDemoServesProbesAndMetrics(t *testing.T) {
	d := startDemo(t)
	waitPrinted(t, d.out, d.done, `(tb-demo-000001  completed)`)
	for _, p := range []struct{ path, want string }{
		{"/healthz", ""}, {"/readyz", ""},
		{"/metrics", `tillbox_sales_finished_total{state="completed"} 1`},
	} {
		// The demo prints the outcome from the event log; the counters
		// follow it a moment later: wait for them, not once.
		agenttest.Until(t, "GET "+p.path+" with "+p.want, func() bool {
			resp, err := http.Get(d.pos + p.path)
			if err != nil {
				return false
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(p.want))
		})
	}
	if !strings.Contains(d.out.String(), "probes        "+d.pos+"/healthz") {
		t.Errorf("the banner does not name the probes:\n%s", d.out)
	}
}

// The demo logs as `tillbox run` does: the part of the box in component=;
// and it stops as run does, in two phases (no new sales first).
func TestDemoLogKeys(t *testing.T) {
	d := startDemo(t)
	waitPrinted(t, d.out, d.done, `(tb-demo-000001  completed)`)
	d.stop()
	log := d.log.String()
	for _, want := range []string{"component=agent", "component=store", `msg="tillbox running"`,
		`msg="shutting down: no new sales; finishing the requests and calls in flight"`, `msg="tillbox stopped"`} {
		if !strings.Contains(log, want) {
			t.Errorf("the demo's log lacks %s:\n%s", want, log)
		}
	}
	if strings.Contains(log, " part=") {
		t.Errorf("the demo's log has part= keys:\n%s", log)
	}
}

// The demo's technician page saves settings: signed in with the banner's
// one-time code and a password set, the settings page takes a new
// customer-present window (live) and display language; they go to the
// overlay in the demo's data folder, which the demo's configuration then
// loads with.
func TestDemoSettingsSave(t *testing.T) {
	d := startDemo(t)
	waitPrinted(t, d.out, d.done, `(tb-demo-000001  completed)`)
	tt := &techTill{t: t, tech: d.tech, data: d.data}
	h := tt.client()
	_, page := h.do("GET", "signin", nil)
	if resp, _ := h.do("POST", "signin", url.Values{"csrf": {csrfOf(t, page)}, "password": {d.code}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with the banner's code: %s", resp.Status)
	}
	_, page = h.do("GET", "password", nil)
	if resp, body := h.do("POST", "password", url.Values{"csrf": {csrfOf(t, page)}, "password": {techPassword}, "again": {techPassword}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("setting the password: %s\n%s", resp.Status, body)
	}
	resp, page := h.do("GET", "settings", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`id="msn" name="msn" value="123456"`)) {
		t.Fatalf("the settings page: %s\n%s", resp.Status, page)
	}
	file := filepath.Join(d.data, demoConfigName)
	c, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"csrf": {csrfOf(t, page)}, "environment": {"simulator"}, "base_url": {c.Vipps.BaseURL}, "msn": {"123456"},
		"client_id": {c.Vipps.ClientID}, "language": {"nb"}, "customer_present_window": {"3m"}}
	resp, body := h.do("POST", "settings", form)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`id="saved"`)) {
		t.Fatalf("POST settings: %s\n%s", resp.Status, body)
	}
	c, err = config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if c.OverlayFile != filepath.Join(d.data, config.OverlayName) || c.Display.Language != "nb" || c.Sales.CustomerPresentWindow.D() != 3*time.Minute {
		t.Errorf("after the save: overlay %s, language %s, window %s", c.OverlayFile, c.Display.Language, c.Sales.CustomerPresentWindow)
	}
	if _, err := os.Stat(c.OverlayFile); err != nil {
		t.Errorf("no overlay: %v", err)
	}
}

// A restart asked on the demo's technician page restarts the box on the
// same data folder, simulator and terminal: it serves again, with the
// settings saved, and the terminal still rings up sales.
func TestDemoRestart(t *testing.T) {
	d := startDemo(t)
	waitPrinted(t, d.out, d.done, `(tb-demo-000001  completed)`)
	tt := &techTill{t: t, tech: d.tech, data: d.data}
	h := tt.client()
	_, page := h.do("GET", "signin", nil)
	if resp, _ := h.do("POST", "signin", url.Values{"csrf": {csrfOf(t, page)}, "password": {d.code}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with the banner's code: %s", resp.Status)
	}
	_, page = h.do("GET", "password", nil)
	if resp, body := h.do("POST", "password", url.Values{"csrf": {csrfOf(t, page)}, "password": {techPassword}, "again": {techPassword}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("setting the password: %s\n%s", resp.Status, body)
	}
	_, page = h.do("GET", "", nil)
	if resp, body := h.do("POST", "restart", url.Values{"csrf": {csrfOf(t, page)}}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST restart: %s\n%s", resp.Status, body)
	}
	waitPrinted(t, d.out, d.done, `(tillbox demo: restarting)`)
	// The banner again, on the same addresses; no second first sale.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(d.out.String(), "POS API       "+d.pos) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no banner after the restart:\n%s", d.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get(d.pos + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz after the restart: %s", resp.Status)
	}
	fmt.Fprintln(d.in, "sale 4990")
	waitPrinted(t, d.out, d.done, `(sale tb-demo-000002 of 49\.90 NOK: waiting_for_customer)`)
	if !strings.Contains(d.out.String(), "(sign in with the password set on it)") {
		t.Errorf("the banner after the restart does not say the password signs in:\n%s", d.out)
	}
	if n := strings.Count(d.out.String(), "A first sale goes through now"); n != 1 {
		t.Errorf("the first sale was announced %d times:\n%s", n, d.out)
	}
}

// The demo's terminal is one of the box's scanners, opened and read as a
// serial or HID one is: the technician page, GET /api/v1/status and
// /metrics list it with its scans (the first sale's among them, its code
// masked), and a code pasted on it completes a sale.
func TestDemoTerminalScanner(t *testing.T) {
	d := startDemo(t)
	token := waitPrinted(t, d.out, d.done, `POS token +(\S+)`)
	waitPrinted(t, d.out, d.done, `(scanner      terminal: scan bound tb-demo-000001)`)
	waitPrinted(t, d.out, d.done, `(tb-demo-000001  completed)`)
	if st := terminalStatus(t, d.pos, token); !st.Connected || st.Driver != driverTerminal || st.Scans != 1 || st.LastScan == "" {
		t.Errorf("the terminal in GET /api/v1/status after the first sale: %+v", st)
	}

	fmt.Fprintln(d.in, "sale 4990")
	waitPrinted(t, d.out, d.done, `(sale tb-demo-000002 of 49\.90 NOK: waiting_for_customer)`)
	fmt.Fprintln(d.in, "https://qr.vipps.no/28/2/01/031/4798765432?v=1")
	waitPrinted(t, d.out, d.done, `(scanner      terminal: scan bound tb-demo-000002)`)
	waitPrinted(t, d.out, d.done, `(tb-demo-000002  completed)`)
	st := terminalStatus(t, d.pos, token)
	if st.Scans != 2 || !strings.Contains(st.LastScan, "432") || strings.Contains(st.LastScan, "4798765432") {
		t.Errorf("the terminal after a pasted code: %d scans, last %q; want 2, masked", st.Scans, st.LastScan)
	}

	resp, err := http.Get(d.pos + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tillbox_scanner_connected{scanner="terminal"} 1`, `tillbox_scanner_scans_total{scanner="terminal"} 2`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	h := (&techTill{t: t, tech: d.tech, data: d.data}).client()
	_, page := h.do("GET", "signin", nil)
	if resp, _ := h.do("POST", "signin", url.Values{"csrf": {csrfOf(t, page)}, "password": {d.code}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with the banner's code: %s", resp.Status)
	}
	_, page = h.do("GET", "password", nil)
	if resp, body := h.do("POST", "password", url.Values{"csrf": {csrfOf(t, page)}, "password": {techPassword}, "again": {techPassword}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("setting the password: %s\n%s", resp.Status, body)
	}
	if _, page = h.do("GET", "", nil); !bytes.Contains(page, []byte("terminal (terminal stdin, a code per line)")) {
		t.Errorf("the technician page does not list the terminal:\n%s", page)
	}
}

// terminalStatus is the terminal among the scanners of GET /api/v1/status.
func terminalStatus(t *testing.T, pos, token string) device.Status {
	t.Helper()
	req, _ := http.NewRequest("GET", pos+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ Scanners []device.Status }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /api/v1/status: %s: %v", resp.Status, err)
	}
	for _, s := range st.Scanners {
		if s.Name == "terminal" {
			return s
		}
	}
	t.Fatalf("GET /api/v1/status lists no terminal among %+v", st.Scanners)
	return device.Status{}
}

// Ctrl-C stops the demo while it waits for the terminal's next line: it
// does not wait for a key (a read of a terminal is not interrupted).
func TestDemoStopsWithoutALine(t *testing.T) {
	d := startDemo(t)
	waitPrinted(t, d.out, d.done, `(tb-demo-000001  completed)`)
	d.cancel()
	d.cancel = nil // stopped here, not by the cleanup
	defer d.in.Close()
	select {
	case err := <-d.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("demo: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo did not stop without a line on its terminal:\n%s", d.out)
	}
}
