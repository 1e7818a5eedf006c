package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/gcpolicy"
	"github.com/tillbox/tillbox/agent/posapi"
)

// buildTillbox builds the tillbox binary of this package into a temporary
// folder, with env added to the build's environment.
func buildTillbox(t testing.TB, env ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tillbox")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestRunSIGTERM stops `tillbox run` (the built binary, in its own process)
// with SIGTERM, as systemd does for an update, while the automatic capture
// of a sale is in flight at Vipps MobilePay:
//
//   - from then on a new sale is refused (503 shutting_down, or the
//     connection is refused once the server is closed), and never stored;
//   - a capture answered within the agent's stop grace (a third of
//     box.shutdown_timeout) is finished: the sale is completed before the
//     process exits;
//   - one that is not is parked: the process exits all the same, with
//     status 0, and the next start sends it again with the same key, so the
//     payment is captured once and in full.
func TestRunSIGTERM(t *testing.T) {
	bin := buildTillbox(t)
	for _, tc := range []struct {
		name    string
		latency time.Duration // of the capture at Vipps MobilePay
		parked  bool
	}{
		{"finished", 300 * time.Millisecond, false},
		{"parked", 8 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, simHTTP, captureArrived := captureSim(t)
			s.SetFault(sim.Fault{Endpoint: "capturePayment", LatencyMs: tc.latency.Milliseconds()})
			dir := t.TempDir()
			cfg := testConfig(t, dir, simHTTP.URL, "127.0.0.1:0", "") // shutdown_timeout 10s: a grace of 3.3 s

			var out agenttest.Logs // the notices and the log: stdout, as journald takes them
			cmd := exec.Command(bin, "run", "--config", cfg)
			cmd.Stdout, cmd.Stderr = &out, &out
			// The binary sets its garbage collector (agent/gcpolicy); an
			// operator's GOGC wins and is logged. One case each.
			cmd.Env = append(os.Environ(), "GOGC=", "GOMEMLIMIT=")
			if !tc.parked {
				cmd.Env = append(cmd.Env, "GOGC=150")
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			client := &posapi.Client{BaseURL: waitPrinted(t, &out, exited, `POS API on (http://127\.0\.0\.1:\d+)/api/v1/`), Token: testToken}

			ctx := t.Context()
			sale := agent.SaleRequest{Reference: "sigterm-" + tc.name, Amount: 4990, Currency: "NOK",
				Description: "Stopped by systemd", Customer: &agent.Customer{PhoneNumber: "4712345678"}}
			if _, _, err := client.CreateSale(ctx, sale); err != nil {
				t.Fatal(err)
			}
			waitCapture(t, captureArrived, exited, &out)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitPrinted(t, &out, exited, `(shutting down: no new sales)`)
			late := agent.SaleRequest{Reference: "sigterm-late-" + tc.name, Amount: 1000, Currency: "NOK",
				Description: "After SIGTERM", Customer: &agent.Customer{PhoneNumber: "4712345678"}}
			_, created, err := client.CreateSale(ctx, late)
			var apiErr *posapi.Error
			switch {
			case created || err == nil:
				t.Errorf("a sale was taken after SIGTERM")
			case errors.As(err, &apiErr) && !errors.Is(err, agent.ErrStopping):
				t.Errorf("a sale after SIGTERM: %v, want 503 shutting_down or no connection", err)
			}

			// A bound on a hang, not a timing assertion: systemd's stop timeout.
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("tillbox run after SIGTERM: %v\n%s", err, out.String())
				}
			case <-time.After(45 * time.Second):
				t.Fatalf("tillbox run did not exit after SIGTERM\n%s", out.String())
			}
			logs := out.String()
			if !strings.Contains(logs, "letting the calls in flight finish") || !strings.Contains(logs, "tillbox stopped") {
				t.Errorf("the log does not tell the stop:\n%s", logs)
			}
			gcLine := regexp.MustCompile(`garbage collector not as tillbox sets it[^\n]* GOGC=(\d+) GOMEMLIMIT=(\d+)`).FindStringSubmatch(logs)
			switch {
			case tc.parked && gcLine != nil:
				t.Errorf("tillbox run did not set its garbage collector: %s", gcLine[0])
			case !tc.parked && (gcLine == nil || gcLine[1] != "150" || gcLine[2] != strconv.FormatInt(gcpolicy.MemoryLimit, 10)):
				t.Errorf("with GOGC=150 in the environment the log says %q", gcLine)
			}
			if parked := strings.Contains(logs, "outbox: parked for the next start"); parked != tc.parked {
				t.Errorf("parked %v, want %v:\n%s", parked, tc.parked, logs)
			}

			// The next start: the sale completes, captured once and in full;
			// the late one was never taken.
			s.ClearFaults()
			again, done := runTill(t, cfg)
			client.BaseURL = waitPrinted(t, again, done, `POS API on (http://127\.0\.0\.1:\d+)/api/v1/`)
			agenttest.Until(t, "the sale completed after the restart", func() bool {
				got, err := client.GetSale(ctx, sale.Reference)
				return err == nil && got.State == agent.Completed
			})
			// The parked capture had reached Vipps MobilePay (the simulator
			// applies a call whose client went away, as a server may): the
			// restarted till learns it by GET or sends it again under the same
			// Idempotency-Key; either way it is captured once.
			p, ok := s.Payment("123456", sale.Reference)
			if !ok || p.Aggregate.CapturedAmount.Value != sale.Amount || p.Ops.Capture != 1 {
				t.Errorf("at Vipps MobilePay: %+v (found %v); want captured once, in full", p, ok)
			}
			if _, err := client.GetSale(ctx, late.Reference); !errors.Is(err, agent.ErrNotFound) {
				t.Errorf("the sale refused at shutdown: %v, want not found", err)
			}
		})
	}
}

// TestSecondSignalExitsAtOnce: an operator who presses Ctrl-C again while
// the box waits for a call in flight gets the process back at once.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	bin := buildTillbox(t)
	s, simHTTP, captureArrived := captureSim(t)
	// The capture hangs for longer than the test; the grace for calls in
	// flight (a third of shutdown_timeout) too: only the second signal ends it.
	s.SetFault(sim.Fault{Endpoint: "capturePayment", LatencyMs: (10 * time.Minute).Milliseconds()})
	dir := t.TempDir()
	cfg := testConfig(t, dir, simHTTP.URL, "127.0.0.1:0", "")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(text), `shutdown_timeout = "10s"`, `shutdown_timeout = "10m"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	var out agenttest.Logs
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	client := &posapi.Client{BaseURL: waitPrinted(t, &out, exited, `POS API on (http://127\.0\.0\.1:\d+)/api/v1/`), Token: testToken}
	sale := agent.SaleRequest{Reference: "second-signal", Amount: 4990, Currency: "NOK",
		Description: "Ctrl-C twice", Customer: &agent.Customer{PhoneNumber: "4712345678"}}
	if _, _, err := client.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	waitCapture(t, captureArrived, exited, &out)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitPrinted(t, &out, exited, `(letting the calls in flight finish)`)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("after a second signal tillbox run ended with %v, want exit status 1", err)
		}
	case <-time.After(60 * time.Second): // a bound on a hang: the grace is over 3 minutes
		t.Fatalf("a second signal did not end tillbox run\n%s", out.String())
	}
	if !strings.Contains(out.String(), "second signal, exiting now") {
		t.Errorf("the second signal was not told:\n%s", out.String())
	}
}

// captureSim is the simulator on loopback, approving, and a channel closed
// when the first capture reaches it: the capture in flight is the one that
// reached the simulator (the sale's state says capturing before the call
// is made).
func captureSim(t *testing.T) (*sim.Server, *httptest.Server, <-chan struct{}) {
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Approve, Delay: 30 * time.Millisecond}})
	arrived := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/capture") {
			once.Do(func() { close(arrived) })
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); s.Close() })
	return s, srv, arrived
}

// waitCapture waits for the capture to reach the simulator, failing if
// tillbox run exits first (a bound on a hang, not a timing assertion).
func waitCapture(t *testing.T, arrived <-chan struct{}, exited <-chan error, out *agenttest.Logs) {
	t.Helper()
	select {
	case <-arrived:
	case err := <-exited:
		t.Fatalf("tillbox run exited before the capture: %v\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("no capture reached the simulator\n%s", out.String())
	}
}
