package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/posapi"
)

// TestRunLogLevelSignals: with the log at warning level, a sale taken is
// not logged; after SIGUSR1 (debug) it is; after SIGUSR2 (back to the
// configured level) it is not any more. The changes are logged.
func TestRunLogLevelSignals(t *testing.T) {
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Ignore}})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	dir := t.TempDir()
	cfg := testConfig(t, dir, simHTTP.URL, "127.0.0.1:0", "")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(text), `level = "debug"`, `level = "warn"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	logs, done := runTill(t, cfg)
	ctx := t.Context()
	client := &posapi.Client{BaseURL: waitPrinted(t, logs, done, `POS API on (http://127\.0\.0\.1:\d+)/api/v1/`), Token: testToken}

	sale := func(ref string) {
		t.Helper()
		if _, _, err := client.CreateSale(ctx, agent.SaleRequest{Reference: ref, Amount: 1000, Currency: "NOK",
			Description: "Log level", Customer: &agent.Customer{PhoneNumber: "4712345678"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CancelSale(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	// "sale accepted" is an info line: seen only from the debug level down.
	logged := func(ref string) bool {
		for l := range strings.SplitSeq(logs.String(), "\n") {
			if strings.Contains(l, `msg="sale accepted"`) && strings.Contains(l, "reference="+ref) {
				return true
			}
		}
		return false
	}
	waitLog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("the log never said %q:\n%s", what, logs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	sale("loglevel-warn-1")
	if logged("loglevel-warn-1") {
		t.Errorf("a sale was logged at warning level:\n%s", logs)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitLog(fmt.Sprintf("level=%s signal=%q", "DEBUG", syscall.SIGUSR1.String()))
	sale("loglevel-debug-2")
	if !logged("loglevel-debug-2") {
		t.Errorf("a sale was not logged at debug level:\n%s", logs)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitLog(fmt.Sprintf("level=%s signal=%q", "WARN", syscall.SIGUSR2.String()))
	sale("loglevel-warn-3")
	if logged("loglevel-warn-3") {
		t.Errorf("a sale was logged after going back to warning level:\n%s", logs)
	}
}
