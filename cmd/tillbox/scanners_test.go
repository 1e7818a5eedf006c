package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/hid"
	xterm "golang.org/x/term"
)

// scannerStatuses reads the scanners of GET /api/v1/status.
func scannerStatuses(t *testing.T, base string) []device.Status {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Scanners []device.Status `json:"scanners"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status: %s, %v", resp.Status, err)
	}
	return st.Scanners
}

// scannerPty is a serial scanner: the test writes to master, tillbox reads
// the pty behind link.
func scannerPty(t *testing.T) (master *os.File, link string) {
	t.Helper()
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); tty.Close() })
	if _, err := xterm.MakeRaw(int(tty.Fd())); err != nil {
		t.Fatal(err)
	}
	link = filepath.Join(t.TempDir(), "scanner")
	if err := os.Symlink(tty.Name(), link); err != nil {
		t.Fatal(err)
	}
	return master, link
}

// TestRunSerialScanner: `tillbox run` reads a serial scanner over a pty;
// a personal QR code scanned while a sale waits gets that sale's
// createPayment at the simulator, with the whole code; a product barcode
// is refused and logged masked; the status shows the scanner.
func TestRunSerialScanner(t *testing.T) {
	master, link := scannerPty(t)
	tl := startTill(t, "", "--scanner", "serial:"+link+",name=front,terminator=CR")
	agenttest.Until(t, "the scanner connected", func() bool {
		st := scannerStatuses(t, tl.url)
		return len(st) == 1 && st[0].Connected
	})
	ctx := t.Context()
	sale, _, err := tl.client.CreateSale(ctx, agent.SaleRequest{Amount: 4990, Currency: "NOK", Description: "Kaffe"})
	if err != nil {
		t.Fatal(err)
	}
	if sale.State != agent.WaitingForCustomer {
		t.Fatalf("sale is %s", sale.State)
	}
	if _, err := master.Write([]byte(personalQR + "\r")); err != nil {
		t.Fatal(err)
	}
	tl.waitState(sale.Reference, agent.Completed)
	p, ok := tl.sim.Payment("123456", sale.Reference)
	if !ok || p.Customer == nil || p.Customer.PersonalQR != personalQR || p.UserFlow != "PUSH_MESSAGE" || p.Ops.Create != 1 {
		t.Fatalf("payment at the simulator: %+v", p)
	}

	const ean = "7038010055512"
	if _, err := master.Write([]byte(ean + "\r")); err != nil {
		t.Fatal(err)
	}
	agenttest.Until(t, "the refusal logged", func() bool { return strings.Contains(tl.logs.String(), "scan refused") })
	st := scannerStatuses(t, tl.url)[0]
	if st.Name != "front" || st.Driver != "serial" || st.Scans != 2 || st.LastScan != "••••••••••512" || st.Mode != "9600 baud, CR" || st.LastScanAt.IsZero() {
		t.Errorf("status %+v", st)
	}
	// A tokenised code stands for the customer as a phone number does:
	// the status shows only its last 3 characters.
	const token = "Lm3Vb8Qw1Zx6Pd0K"
	if _, err := master.Write([]byte("https://qr.vipps.no/p/" + token + "\r")); err != nil {
		t.Fatal(err)
	}
	agenttest.Until(t, "the tokenised scan counted", func() bool { return scannerStatuses(t, tl.url)[0].Scans == 3 })
	if st := scannerStatuses(t, tl.url)[0]; st.LastScan != "https://qr.vipps.no/p/•••••••••••••d0K" {
		t.Errorf("status shows the tokenised scan as %q", st.LastScan)
	}
	if err := tl.stop(); err != nil {
		t.Fatal(err)
	}
	logs := tl.logs.String()
	for _, secret := range []string{ean, "4712345678", token} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log shows a whole code or phone number %q", secret)
		}
	}
	if !strings.Contains(logs, "product barcode") {
		t.Errorf("the refusal's reason is not logged:\n%s", logs)
	}
}

// TestNoCgoBuild builds tillbox without cgo, as a careless build would, and
// checks that it says loudly that USB HID scanners cannot be read: in
// `tillbox devices`, at the start of `tillbox run` (an error naming the
// scanner) and in GET /api/v1/status.
func TestNoCgoBuild(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tillbox")
	build := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	want := hid.ErrNotBuilt.Error()

	out, err := exec.CommandContext(t.Context(), bin, "devices").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "USB HID devices:\n  "+want) || !strings.Contains(string(out), "tillbox devices: USB HID: "+want) {
		t.Errorf("tillbox devices: %v\n%s", err, out)
	}

	tl := startTill(t, "") // for its simulator and configuration; the child uses its own data directory
	cmd := exec.CommandContext(t.Context(), bin, "run", "--config", tl.config, "--listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--scanner", "hid:0c2e:0b61,name=front,layout=no")
	var stderr agenttest.Logs // stdout and stderr: the notices and the log
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	m := []string{"", waitPrinted(t, &stderr, exited, `POS API on (http://127\.0\.0\.1:\d+)/api/v1/`)}
	agenttest.Until(t, "the error in the status", func() bool { return scannerStatuses(t, m[1])[0].LastError != "" })
	if st := scannerStatuses(t, m[1])[0]; st.LastError != want || st.Connected || st.Name != "front" {
		t.Errorf("status %+v", st)
	}
	agenttest.Until(t, "the error logged", func() bool { return strings.Contains(stderr.String(), "level=ERROR") })
	logged := regexp.MustCompile(`level=ERROR [^\n]*scanner=front driver=hid [^\n]*built without cgo`).MatchString(stderr.String())
	if !logged || strings.Contains(stderr.String(), "no scanner found") {
		t.Errorf("the log:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Errorf("tillbox run: %v\n%s", err, stderr.String())
	}
}

// TestDemoScanner: `tillbox demo --scanner` reads a serial scanner beside
// the terminal's virtual one; a bad spec is refused with its field.
func TestDemoScanner(t *testing.T) {
	master, link := scannerPty(t)
	var out agenttest.Logs
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDemoWithInput(ctx, []string{"--listen", "127.0.0.1:0", "--display-listen", "127.0.0.1:0", "--console-listen", "127.0.0.1:0", "--approve-after", "100ms", "--scanner", "serial:" + link + ",name=counter,terminator=LF"}, pr, &out, io.Discard)
	}()
	waitOutput(t, &out, "tb-demo-000001  completed") // the first sale
	fmt.Fprintln(pw, "sale 4990")
	waitOutput(t, &out, "sale tb-demo-000002 of 49.90 NOK: waiting_for_customer")
	if _, err := master.Write([]byte("https://qr.vipps.no/28/2/01/031/4798765432?v=1\n")); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &out, "scanner      counter: scan bound tb-demo-000002")
	waitOutput(t, &out, "tb-demo-000002  completed")
	cancel()
	pw.Close()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("demo: %v", err)
	}

	var errOut agenttest.Logs
	err := runDemoWithInput(t.Context(), []string{"--scanner", "hid:0c2e:0b61,layout=fr"}, strings.NewReader(""), io.Discard, &errOut)
	if err == nil || !strings.Contains(errOut.String(), `scanner[1].layout: "fr" is not one of`) {
		t.Errorf("bad scanner: %v\n%s", err, errOut.String())
	}
}
