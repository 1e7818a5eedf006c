package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/posapi"
)

// TestMain lets the test binary be tillbox itself: with
// TILLBOX_TEST_AS_TILLBOX=1 in its environment it runs main with its
// arguments. The restart test starts it so, as a
// child process; its re-exec (the same binary, arguments and environment)
// runs main again.
func TestMain(m *testing.M) {
	if os.Getenv("TILLBOX_TEST_AS_TILLBOX") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Restart from the technician page, in a real process under a fake
// systemd notify socket: refused while a payment is in flight, then
// confirmed; the process shuts down gracefully and execs itself: the same
// PID says RELOADING=1 and READY=1 again, serves again (a new session is
// needed; the sale is still there), and stops cleanly on SIGTERM.
func TestRestartReexecs(t *testing.T) {
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Ignore}})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	dir := t.TempDir()
	cfg := testConfig(t, dir, simHTTP.URL, "127.0.0.1:0", "")
	hash := writeTechPassword(t, dir, techPassword)

	sock := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { notify.Close() })
	messages := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				close(messages)
				return
			}
			messages <- string(buf[:n])
		}
	}()
	expect := func(prefix string) string {
		t.Helper()
		select {
		case m, ok := <-messages:
			if !ok || !strings.HasPrefix(m, prefix) {
				t.Fatalf("systemd was told %q, want %s", m, prefix)
			}
			return m
		case <-time.After(30 * time.Second): // only keeps a broken test from hanging
			t.Fatalf("systemd was not told %s", prefix)
		}
		return ""
	}

	cmd := exec.Command(os.Args[0], "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "TILLBOX_TEST_AS_TILLBOX=1", "NOTIFY_SOCKET="+sock)
	logs := agenttest.NewLogs() // the notices and the log
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // when the test failed before stopping it
	})
	posURL, techURL := nthPrinted(t, logs, 1, posPrinted), nthPrinted(t, logs, 1, techPrinted)
	expect("READY=1")

	tt := &techTill{t: t, config: cfg, tech: techURL, hash: hash, logs: logs}
	h := tt.client()
	tok := h.signIn(techPassword)
	pos := &posapi.Client{BaseURL: posURL, Token: testToken}
	sale, _, err := pos.CreateSale(t.Context(), agent.SaleRequest{Amount: 2500, Currency: "NOK"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := h.do("POST", "restart", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), sale.Reference) {
		t.Fatalf("restart with a payment in flight: %s\n%s", resp.Status, body)
	}
	if resp, body := h.do("POST", "restart", url.Values{"csrf": {tok}, "confirm": {"yes"}}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("restart confirmed: %s\n%s", resp.Status, body)
	}
	if m := expect("RELOADING=1"); !strings.Contains(m, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", m)
	}
	posURL, techURL = nthPrinted(t, logs, 2, posPrinted), nthPrinted(t, logs, 2, techPrinted)
	expect("READY=1")

	// The same process, started twice.
	starts := regexp.MustCompile(`msg="tillbox running" pid=(\d+)`).FindAllStringSubmatch(logs.String(), -1)
	if len(starts) != 2 {
		t.Fatalf("tillbox started %d times, want 2:\n%s", len(starts), logs)
	}
	for _, m := range starts {
		if m[1] != strconv.Itoa(cmd.Process.Pid) {
			t.Errorf("tillbox ran as pid %s, want the child's %d", m[1], cmd.Process.Pid)
		}
	}
	if !strings.Contains(logs.String(), "restarting (asked on the technician page)") || !strings.Contains(logs.String(), `msg="tillbox stopped"`) {
		t.Errorf("the log does not show a graceful stop before the restart:\n%s", logs)
	}

	// Serving again: the old session is gone, the password signs in, the
	// sale is still there.
	tt.tech = techURL
	if resp, _ := h.do("GET", "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the old session after the restart: %s", resp.Status)
	}
	tt.client().signIn(techPassword)
	pos.BaseURL = posURL
	if got, err := pos.GetSale(t.Context(), sale.Reference); err != nil || got.State != agent.WaitingForCustomer {
		t.Errorf("the sale after the restart: %+v, %v", got, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- cmd.Wait() }()
	expect("STOPPING=1")
	if err := <-exited; err != nil {
		t.Errorf("tillbox after SIGTERM: %v\n%s", err, logs)
	}
	for _, s := range tt.secrets() {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log holds a secret (%.6s…)", s)
		}
	}
}

// nthPrinted waits until out holds n matches of expr and returns the
// group of the nth.
func nthPrinted(t *testing.T, out *agenttest.Logs, n int, expr string) string {
	t.Helper()
	re := regexp.MustCompile(expr)
	deadline := time.Now().Add(30 * time.Second) // only keeps a broken test from hanging
	for {
		if m := re.FindAllStringSubmatch(out.String(), -1); len(m) >= n {
			return m[n-1][1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("tillbox did not print %s %d times:\n%s", expr, n, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
