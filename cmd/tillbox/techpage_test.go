package main

import (
	"bufio"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/creack/pty"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/display/browsertest"
	"github.com/tillbox/tillbox/display/technician"
	xterm "golang.org/x/term"
)

// Test payments only against the test environment or a simulator.
func TestTestPaymentsAllowed(t *testing.T) {
	for _, tc := range []struct {
		env, base string
		want      bool
	}{
		{"test", "", true},
		{"production", "", false},
		{"", "http://127.0.0.1:8099", true},
		{"", "https://sim.example.com", true},
		{"", "https://api.vipps.no", false},
		{"", "https://API.vipps.no.:443/", false},
		{"", "https://apitest.vipps.no", true},
	} {
		c := config.Default()
		c.Vipps.Environment, c.Vipps.BaseURL = tc.env, tc.base
		if got := testPaymentsAllowed(c); got != tc.want {
			t.Errorf("environment %q, base_url %q: allowed %v, want %v", tc.env, tc.base, got, tc.want)
		}
	}
}

// The technician page of `tillbox run` in a browser, with a serial
// scanner on a real pty configured as a box would (--scanner serial:…):
// the scan test shows a personal QR code and a garbage code the scanner
// sent, each with what it was taken for; the log page shows the scans;
// a test payment against the simulator is paid; and no page holds a
// secret of the configuration or the customer's phone number.
func TestTechnicianPageWithPTYScanner(t *testing.T) {
	// The scanner: a pty, raw, behind a by-id-like symlink.
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer tty.Close()
	if _, err := xterm.MakeRaw(int(tty.Fd())); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	link := filepath.Join(dir, "usb-Scanner_Test-if00")
	if err := os.Symlink(tty.Name(), link); err != nil {
		t.Fatal(err)
	}
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Ignore}})
	simHTTP := httptest.NewServer(s)
	defer func() { simHTTP.Close(); s.Close() }()
	s.SetApp("4791234567", sim.AppPolicy{Action: sim.Approve, Delay: 30 * time.Millisecond})
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery staple"
	hash, err := technician.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if err := technician.WritePasswordFile(data, hash); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, dir, simHTTP.URL, "127.0.0.1:0", "")

	ctx, cancel := context.WithCancel(context.Background())
	logs := agenttest.NewLogs()
	pr, pw2 := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"run", "--config", cfg, "--scanner", "serial:" + link + ",baud=9600"}, pw2, logs)
		pw2.Close()
		done <- err
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	out := bufio.NewReader(pr)
	var page string
	for page == "" {
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("tillbox run did not print the technician page's address: %v\n%s", err, logs)
		}
		if m := regexp.MustCompile(`technician page on (http://127\.0\.0\.1:\d+/\S*)`).FindStringSubmatch(line); m != nil {
			page = m[1]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	secrets := []string{"client-secret-of-the-tests", "subscription-key-of-the-tests", testToken, pw, hash, "4712345678"}
	var seen []string // every page the browser showed
	check := func(what string, html string) {
		t.Helper()
		seen = append(seen, what)
		for _, s := range secrets {
			if strings.Contains(html, s) {
				t.Errorf("%s holds a secret or the customer's phone number (%.6s…)", what, s)
			}
		}
	}
	b := browsertest.New(t)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(b, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(what, js string) string {
		t.Helper()
		v, err := chromedp.Run(b, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	html := func(what string) string {
		t.Helper()
		h := eval(what, `document.documentElement.outerHTML`)
		check(what, h)
		return h
	}
	run("sign-in", chromedp.Navigate(page), chromedp.WaitReady(chromedp.CSS("#password")), chromedp.SendKeys(chromedp.CSS("#password"), pw), browsertest.Click("#go"))
	browsertest.WaitJS(t, b, "the status page, the scanner connected", `document.body.dataset.page === 'status' && document.querySelector('#scanners').innerText.includes('connected since')`)
	status := html("the status page")
	if !strings.Contains(status, link) && !strings.Contains(status, tty.Name()) {
		t.Errorf("the status page does not name the scanner's device")
	}

	// The scan test: the scanner sends a personal QR code, then garbage.
	run("the scan test", browsertest.Click("#nav-scan"))
	browsertest.WaitJS(t, b, "the scan test, live", `document.body.dataset.page === 'scan' && document.getElementById('live').dataset.state === 'live'`)
	if _, err := master.Write([]byte("https://qr.vipps.no/28/2/01/031/4712345678?v=1\r")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, b, "the personal QR code", `document.querySelectorAll('#scan-rows tr').length === 1`)
	if _, err := master.Write([]byte("GARBAGE-42-not-a-code\r")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, b, "the garbage", `document.querySelectorAll('#scan-rows tr').length === 2`)
	rows, err := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#scan-rows tr')].map(r => r.innerText)`))
	if err != nil {
		t.Fatal(err)
	}
	garbage, qr := rows[0], rows[1] // newest first
	for _, want := range []string{"+47 ••• •• 678", "personal QR code", "held"} {
		if !strings.Contains(qr, want) {
			t.Errorf("the personal QR code shows %q, without %q", qr, want)
		}
	}
	for _, want := range []string{"not a personal QR code: ", "refused"} {
		if !strings.Contains(garbage, want) {
			t.Errorf("the garbage shows %q, without %q", garbage, want)
		}
	}
	if reason := strings.SplitN(garbage, "not a personal QR code: ", 2); len(reason) < 2 || len(strings.Fields(reason[1])) < 2 {
		t.Errorf("the garbage is refused without a reason: %q", garbage)
	}
	html("the scan test page")

	// A test payment against the simulator: base_url is not production.
	run("the test payment page", browsertest.Click("#nav-testpay"))
	browsertest.WaitJS(t, b, "the test payment form", `document.body.dataset.page === 'testpay' && !!document.getElementById('testpay')`)
	run("a test payment", chromedp.WaitReady(chromedp.CSS("#phone")), chromedp.SendKeys(chromedp.CSS("#phone"), "4791234567"), browsertest.Click("#testpay"))
	browsertest.WaitJS(t, b, "the test payment paid", `(document.querySelector('#test-rows tr.test') || {dataset: {}}).dataset.state === 'completed'`)
	html("the test payment page")
	check("testpay.json", eval("testpay.json", `fetch('/technician/testpay.json').then(r => r.text())`))

	// The log page shows the scans, masked, and at debug the calls to
	// Vipps MobilePay.
	run("the log page", browsertest.Click("#nav-log"))
	browsertest.WaitJS(t, b, "the log page with the refused scan", `document.body.dataset.page === 'log' && document.getElementById('log-rows').innerText.includes('scan refused')`)
	html("the log page")
	run("the debug log", browsertest.Click("#level-debug"))
	browsertest.WaitJS(t, b, "the debug log", `document.getElementById('log').dataset.level === 'debug' && document.getElementById('log-rows').innerText.includes('DEBUG')`)
	html("the log page at debug")

	// The status page now knows the token and the clock.
	run("the status page", browsertest.Click("#nav-status"))
	browsertest.WaitJS(t, b, "the token and the clock", `document.body.dataset.page === 'status' && document.getElementById('token').innerText.startsWith('valid') && document.getElementById('skew').innerText.includes('in step with')`)
	html("the status page after a payment")
	for _, p := range []string{"log.json?level=debug", "scans.json"} {
		check(p, eval(p, `fetch('/technician/`+p+`').then(r => r.text())`))
	}
	if len(seen) < 9 {
		t.Errorf("only %d pages checked", len(seen))
	}
}
