package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/version"
)

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	// The version first, then commit, date, Go, and the modules linked in.
	got := out.String()
	if want := "tillbox " + version.String() + "\ncommit "; !strings.HasPrefix(got, want) || version.String() == "" ||
		!strings.Contains(got, "\ndep go.etcd.io/bbolt v") {
		t.Errorf("version printed %q, want it to start with %q and name bbolt", got, want)
	}
}

func TestUnknownCommandAndNoArgs(t *testing.T) {
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("unknown command: %v", err)
	}
	if !strings.Contains(errOut.String(), `unknown command "frobnicate"`) || !strings.Contains(errOut.String(), "tillbox sim") {
		t.Errorf("stderr = %q", errOut.String())
	}
	if err := run(context.Background(), nil, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("no args: %v", err)
	}
}

// TestSimServesAndStops runs `tillbox sim` on a free loopback port, gets a
// token from it like any client would, and stops it with the context.
func TestSimServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, done := startSim(t, ctx)
	req, _ := http.NewRequest(http.MethodPost, url+"/accesstoken/get", nil)
	req.Header.Set("client_id", "00000000-0000-4000-8000-000000000001")
	req.Header.Set("client_secret", "s")
	req.Header.Set("Ocp-Apim-Subscription-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token from tillbox sim: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sim exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sim did not stop after its context ended")
	}
}

// startSim runs `tillbox sim` with args on a free loopback port until ctx
// ends; done gets its result.
func startSim(t *testing.T, ctx context.Context, args ...string) (url string, done chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	done = make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"sim", "--listen", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return strings.TrimSpace(line[strings.Index(line, "http://"):]), done
}

// TestSimFakeClock: `tillbox sim --fake-clock` serves a clock that
// POST /sim/clock/advance moves; without the flag, the refusal says how to
// get one.
func TestSimFakeClock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := func(url, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		if body != "" {
			req, _ = http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	now := func(url string) time.Time {
		t.Helper()
		_, b := clock(url, "/sim/clock", "")
		var c struct{ Now time.Time }
		if err := json.Unmarshal([]byte(b), &c); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return c.Now
	}
	fake, _ := startSim(t, ctx, "--fake-clock")
	before := now(fake)
	if code, b := clock(fake, "/sim/clock/advance", `{"ms":600000}`); code != http.StatusOK {
		t.Fatalf("advance under --fake-clock: %d %s", code, b)
	}
	if got := now(fake).Sub(before); got != 10*time.Minute {
		t.Fatalf("the clock moved %v, want 10m", got)
	}
	running, _ := startSim(t, ctx)
	if code, b := clock(running, "/sim/clock/advance", `{"ms":1000}`); code != http.StatusBadRequest || !strings.Contains(b, "--fake-clock") {
		t.Fatalf("advance of the real clock: %d %s, want 400 naming --fake-clock", code, b)
	}
}

func TestSimRejectsBadFlags(t *testing.T) {
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"sim", "--no-such-flag"}, io.Discard, &errOut); err == nil {
		t.Error("unknown flag accepted")
	}
	if err := run(context.Background(), []string{"sim", "--listen", "256.0.0.1:99999"}, io.Discard, io.Discard); err == nil {
		t.Error("impossible listen address accepted")
	}
}

// TestDemo runs what `make demo` runs, until its first sale completes, and
// checks the story it tells.
func TestDemo(t *testing.T) {
	var out agenttest.Logs
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := runDemoWithInput(ctx, []string{"--once", "--listen", "127.0.0.1:0", "--display-listen", "127.0.0.1:0", "--console-listen", "127.0.0.1:0", "--approve-after", "200ms"}, strings.NewReader(""), &out, io.Discard)
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"POS API       http://127.0.0.1:", "POS token", "/api/openapi.yaml", "display       http://127.0.0.1:",
		"scanner      terminal: scan bound tb-demo-000001",
		"waiting_for_customer", "queued", "awaiting_approval", "capturing", "completed",
		"captured 499.00 NOK in full",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`technician    http://127\.0\.0\.1:\d+/technician/   \(sign in with the one-time code \d{5}-\d{5}\)`).MatchString(text) {
		t.Errorf("demo output lacks the technician page and its one-time code:\n%s", text)
	}
	if strings.Count(text, "4712345678") != 1 { // only in the example to paste
		t.Errorf("the demo shows the customer's phone number beyond the example code:\n%s", text)
	}
}

// TestVirtualScanner: lines typed on the terminal become sales and scans.
func TestVirtualScanner(t *testing.T) {
	var out agenttest.Logs
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDemoWithInput(ctx, []string{"--listen", "127.0.0.1:0", "--display-listen", "127.0.0.1:0", "--console-listen", "127.0.0.1:0", "--approve-after", "100ms"}, pr, &out, io.Discard)
	}()
	waitOutput(t, &out, "tb-demo-000001  completed") // the first sale
	fmt.Fprintln(pw, "sale 4990")
	waitOutput(t, &out, "pos          sale tb-demo-000002 of 49.90 NOK: waiting_for_customer")
	fmt.Fprintln(pw, "7038010055607") // a product barcode: refused at the till, never sent
	waitOutput(t, &out, "scanner      terminal: refused")
	fmt.Fprintln(pw, "https://qr.vipps.no/28/2/01/031/4798765432?v=1")
	waitOutput(t, &out, "scan bound tb-demo-000002")
	waitOutput(t, &out, "tb-demo-000002  completed")
	cancel()
	pw.Close()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("demo: %v", err)
	}
}

// waitPrinted waits until a line of out matches expr and returns the
// expression's first group; it fails the test if done delivers first (the
// command ended) or after a bound on a hang.
func waitPrinted(t testing.TB, out *agenttest.Logs, done chan error, expr string) string {
	t.Helper()
	re := regexp.MustCompile(expr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			done <- err // for whoever waits next
			t.Fatalf("tillbox ended (%v) before printing %s:\n%s", err, expr, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tillbox did not print %s:\n%s", expr, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitOutput waits until out holds want, showing out when it never does.
func waitOutput(t *testing.T, out *agenttest.Logs, want string) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("the output:\n%s", out)
		}
	}()
	agenttest.Until(t, fmt.Sprintf("the output to hold %q", want), func() bool { return out.Contains(want) })
}

// TestDemoPatterns: --pattern replaces the personal QR patterns as
// [[scan.pattern]] does; a bad one is refused naming the field.
func TestDemoPatterns(t *testing.T) {
	var errOut bytes.Buffer
	err := runDemoWithInput(t.Context(), []string{"--pattern", `x=^(a`}, strings.NewReader(""), io.Discard, &errOut)
	if err == nil || !strings.Contains(errOut.String(), "scan.pattern[1].expr: is not a regular expression (RE2 syntax): missing closing ): `^(a`") {
		t.Errorf("bad pattern: %v, stderr %q", err, errOut.String())
	}
	err = runDemoWithInput(t.Context(), []string{"--pattern", `tok=^https://qr\.vipps\.no/p/[a-z]+$`}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "the demo's example code") {
		t.Errorf("patterns that refuse the example: %v", err)
	}

	var out agenttest.Logs
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDemoWithInput(ctx, []string{"--listen", "127.0.0.1:0", "--approve-after", "100ms",
			"--pattern", `clear=^https://qr\.vipps\.no/28/2/01/031/[0-9]{10}\?v=1$`}, pr, &out, io.Discard)
	}()
	waitOutput(t, &out, "tb-demo-000001  completed")
	fmt.Fprintln(pw, "sale 4990")
	waitOutput(t, &out, "tb-demo-000002 of 49.90 NOK: waiting_for_customer")
	fmt.Fprintln(pw, "https://qr.vipps.no/p/Lm3Vb8Qw1Zx6Pd0K") // tokenised: a default, not configured
	waitOutput(t, &out, "scanner      terminal: refused")
	fmt.Fprintln(pw, "https://qr.vipps.no/28/2/01/031/4798765432?v=1")
	waitOutput(t, &out, "scan bound tb-demo-000002")
	cancel()
	pw.Close()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("demo: %v", err)
	}
}

// TestDemoScanRefusedGoesOn: a sale sent by the POS (with its customer)
// while the demo starts makes the demo's own scan refused; the demo prints
// it and goes on, "help" lists the commands, and the temporary folder the
// demo made is gone once it stops.
func TestDemoScanRefusedGoesOn(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	out := &posOnBanner{t: t}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDemoWithInput(ctx, []string{"--listen", "127.0.0.1:0", "--display-listen", "127.0.0.1:0", "--console-listen", "127.0.0.1:0", "--approve-after", "10m"}, pr, out, io.Discard)
	}()
	waitPrinted(t, &out.buf, done, `(scanner      terminal: refused: a payment is in progress)`)
	if made, _ := filepath.Glob(filepath.Join(tmp, "tillbox-demo-*")); len(made) != 1 {
		t.Errorf("temporary folders while the demo runs: %v, want its one", made)
	}
	fmt.Fprintln(pw, "help")
	waitPrinted(t, &out.buf, done, `(sale AMOUNT   ring up a sale)`)
	waitPrinted(t, &out.buf, done, `(a decline: sale 151)`)
	fmt.Fprintln(pw, "sale")
	waitPrinted(t, &out.buf, done, `(usage: sale AMOUNT-IN-ØRE)`)
	if strings.Contains(out.buf.String(), "scanner      terminal: refused: code") {
		t.Errorf("help was read as a scan:\n%s", out.buf.String())
	}
	cancel()
	pw.Close()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("demo: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
		t.Errorf("the demo left %v behind", left)
	}
}

// posOnBanner is the demo's output; as the demo prints its banner (before
// its own first sale), it rings up a sale with a customer through the POS
// API, as a cash register could at that moment.
type posOnBanner struct {
	t    *testing.T
	buf  agenttest.Logs
	once sync.Once
}

func (p *posOnBanner) Write(b []byte) (int, error) {
	if m := regexp.MustCompile(`POS API +(\S+)/api/v1[\s\S]*POS token +(\S+)`).FindSubmatch(b); m != nil {
		p.once.Do(func() {
			req, _ := http.NewRequest(http.MethodPost, string(m[1])+"/api/v1/sales", strings.NewReader(
				`{"amount":1000,"currency":"NOK","customer":{"personalQr":"https://qr.vipps.no/28/2/01/031/4798765432?v=1"}}`))
			req.Header.Set("Authorization", "Bearer "+string(m[2]))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				p.t.Errorf("POS sale: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				p.t.Errorf("POS sale: %s", resp.Status)
			}
		})
	}
	return p.buf.Write(b)
}

// TestDemoDeclineAndDataDir: `sale 151` then a scan ends declined, as the
// help says; --data-dir makes a folder that is missing (0750).
func TestDemoDeclineAndDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "new", "data")
	var out agenttest.Logs
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDemoWithInput(ctx, []string{"--data-dir", data, "--listen", "127.0.0.1:0", "--display-listen", "127.0.0.1:0", "--console-listen", "127.0.0.1:0", "--approve-after", "100ms"}, pr, &out, io.Discard)
	}()
	waitPrinted(t, &out, done, `(tb-demo-000001  completed)`)
	fmt.Fprintln(pw, "sale 151")
	waitPrinted(t, &out, done, `(sale tb-demo-000002 of 1\.51 NOK: waiting_for_customer)`)
	fmt.Fprintln(pw, exampleQR)
	waitPrinted(t, &out, done, `(tb-demo-000002  declined)`)
	cancel()
	pw.Close()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("demo: %v", err)
	}
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o750 {
		t.Errorf("data folder made %v, want 0750", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(data, "tillbox.db")); err != nil {
		t.Errorf("no database in the data folder: %v", err)
	}
}
