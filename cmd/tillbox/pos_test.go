package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/posapi"
)

const posTestQR = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"

// startPOSBox runs a box for tillbox pos to talk to: the simulator (the
// customer approves after 50 ms), a bbolt file, the agent and its POS API,
// all on loopback. It returns the API's URL and token.
func startPOSBox(t *testing.T) (string, string) {
	t.Helper()
	k := agenttest.New(t, agenttest.Options{
		Sim:   sim.Options{App: sim.AppPolicy{Action: sim.Approve, Delay: 50 * time.Millisecond}},
		Agent: agent.Options{PollDelay: 100 * time.Millisecond, PollEvery: 100 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	const token = "pos-test-token-5d1c"
	api := httptest.NewUnstartedServer(posapi.New(k.Agent, token, nil))
	api.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	api.Start()
	t.Cleanup(api.Close)
	return api.URL, token
}

// pos runs tillbox pos with the box's URL and token.
func pos(t *testing.T, url, token string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, append([]string{"pos", "--url", url, "--token", token}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestPOSSaleWaitRefund(t *testing.T) {
	url, token := startPOSBox(t)
	out, _, err := pos(t, url, token, "sale", "--amount", "49900", "--reference", "cli-00000001", "--qr", posTestQR, "--wait")
	if err != nil {
		t.Fatalf("sale --wait: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "cli-00000001  queued  499.00 NOK") ||
		!strings.Contains(lines[len(lines)-1], "completed  499.00 NOK  (captured 499.00)") {
		t.Errorf("sale --wait printed:\n%s", out)
	}
	if strings.Contains(out, "4712345678") {
		t.Errorf("the customer's number is shown:\n%s", out)
	}

	out, _, err = pos(t, url, token, "refund", "cli-00000001", "--amount", "10000", "--id", "r-1")
	if err != nil || !strings.Contains(out, "cli-00000001  completed") {
		t.Fatalf("refund: %v\n%s", err, out)
	}
	out, _, err = pos(t, url, token, "--json", "get", "cli-00000001")
	var s agent.Sale
	if err != nil || json.Unmarshal([]byte(out), &s) != nil || s.Reference != "cli-00000001" || s.Amount != 49900 {
		t.Fatalf("get --json: %v\n%s", err, out)
	}
	out, _, err = pos(t, url, token, "list")
	if err != nil || !strings.HasPrefix(out, "cli-00000001  ") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, _, err = pos(t, url, token, "events", "--after", "1")
	if err != nil || !strings.HasPrefix(out, "#2  ") || strings.Contains(out, "#1  ") {
		t.Fatalf("events --after 1: %v\n%s", err, out)
	}
	out, _, err = pos(t, url, token, "status")
	if err != nil || !strings.HasPrefix(out, "online, queued ") {
		t.Fatalf("status: %v\n%s", err, out)
	}
}

// TestPOSRefundWhatIsLeft: refund without --amount refunds what is left,
// and the states tell a partial refund from a full one; a second cancel is
// harmless; a position past the box's newest event is explained.
func TestPOSRefundWhatIsLeft(t *testing.T) {
	url, token := startPOSBox(t)
	if out, _, err := pos(t, url, token, "sale", "--amount", "9990", "--reference", "cli-00000005", "--qr", posTestQR, "--wait"); err != nil {
		t.Fatalf("sale --wait: %v\n%s", err, out)
	}
	getUntil := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, _, err := pos(t, url, token, "get", "cli-00000005")
			if err == nil && strings.HasPrefix(out, "cli-00000005  "+want+"  ") {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("sale is not %s after 30 s: %v\n%s", want, err, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if out, _, err := pos(t, url, token, "refund", "cli-00000005", "--amount", "5000"); err != nil {
		t.Fatalf("refund --amount 5000: %v\n%s", err, out)
	}
	getUntil("partially_refunded")
	_, _, err := pos(t, url, token, "refund", "cli-00000005", "--amount", "5000")
	if err == nil || err.Error() != "pos: amount: at most 4 990 can be refunded (captured 9 990, refunded 5 000)" {
		t.Errorf("refund of more than is left: %v", err)
	}
	if out, _, err := pos(t, url, token, "refund", "cli-00000005"); err != nil {
		t.Fatalf("refund of what is left: %v\n%s", err, out)
	}
	if out := getUntil("refunded"); !strings.Contains(out, "(captured 99.90, refunded 99.90)") {
		t.Errorf("refunded sale: %s", out)
	}
	if _, _, err := pos(t, url, token, "cancel", "cli-00000005"); err == nil || !strings.Contains(err.Error(), "captured: refund instead") {
		t.Errorf("cancel of a refunded sale: %v", err)
	}
	_, _, err = pos(t, url, token, "events", "--after", "999")
	if err == nil || !strings.Contains(err.Error(), "before --after 999: that position comes from another database") {
		t.Errorf("events --after 999: %v", err)
	}
}

func TestPOSManualCaptureCancelScan(t *testing.T) {
	url, token := startPOSBox(t)
	// A sale without a customer waits for a scan; the scan binds to it.
	out, _, err := pos(t, url, token, "sale", "--amount", "1000", "--reference", "cli-00000003")
	if err != nil || !strings.Contains(out, "waiting_for_customer") {
		t.Fatalf("sale without a customer: %v\n%s", err, out)
	}
	out, _, err = pos(t, url, token, "scan", posTestQR)
	if err != nil || out != "scan bound to sale cli-00000003\n" {
		t.Fatalf("scan: %v\n%s", err, out)
	}
	if _, _, err = pos(t, url, token, "sale", "--amount", "1000", "--reference", "cli-00000004"); err != nil {
		t.Fatal(err)
	}
	out, _, err = pos(t, url, token, "cancel", "cli-00000004")
	if err != nil || !strings.Contains(out, "cli-00000004  cancelled") {
		t.Fatalf("cancel: %v\n%s", err, out)
	}
	out, _, err = pos(t, url, token, "cancel", "cli-00000004")
	if err != nil || !strings.Contains(out, "cli-00000004  cancelled") {
		t.Fatalf("cancel repeated: %v\n%s", err, out)
	}

	out, _, err = pos(t, url, token, "sale", "--amount", "20000", "--reference", "cli-00000002", "--phone", "4712345678",
		"--capture", "manual", "--description", "Bike repair", "--wait")
	if err != nil || !strings.Contains(out, "cli-00000002  authorized  200.00 NOK  \"Bike repair\"  customer +47 ••• •• 678") {
		t.Fatalf("manual sale --wait: %v\n%s", err, out)
	}
	out, _, err = pos(t, url, token, "capture", "cli-00000002", "--amount", "5000")
	if err != nil || !strings.Contains(out, "cli-00000002  capturing") {
		t.Fatalf("capture: %v\n%s", err, out)
	}
}

func TestPOSErrors(t *testing.T) {
	url, token := startPOSBox(t)
	_, _, err := pos(t, url, token, "sale", "--amount", "99")
	if err == nil || err.Error() != "pos: amount: must be at least 100 (minor units of NOK)" {
		t.Errorf("small amount: %v", err)
	}
	_, _, err = pos(t, url, token, "get", "cli-99999999")
	if err == nil || !strings.Contains(err.Error(), "no such sale (not_found)") {
		t.Errorf("get of no sale: %v", err)
	}
	_, _, err = pos(t, url, "wrong-token", "status")
	if err == nil || !strings.Contains(err.Error(), "refused the token") || strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("wrong token: %v", err)
	}
	_, _, err = pos(t, "http://127.0.0.1:1", token, "status")
	if err == nil || !strings.Contains(err.Error(), "cannot reach the box at http://127.0.0.1:1") {
		t.Errorf("no box: %v", err)
	}
	if _, _, err := pos(t, url, token, "get"); !errors.Is(err, errUsage) {
		t.Errorf("get without REF: %v", err)
	}
	if _, _, err := pos(t, url, token, "cancel", "a-00000001", "b-00000001"); !errors.Is(err, errUsage) {
		t.Errorf("cancel with two refs: %v", err)
	}
	if _, _, err := pos(t, url, token, "frobnicate"); !errors.Is(err, errUsage) {
		t.Errorf("unknown command: %v", err)
	}
	t.Setenv("TILLBOX_POS_TOKEN", "")
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"pos", "--url", url, "status"}, io.Discard, &errOut); err == nil || !strings.Contains(err.Error(), "TILLBOX_POS_TOKEN") {
		t.Errorf("no token: %v", err)
	}
	t.Setenv("TILLBOX_POS_TOKEN", token)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"pos", "--url", url, "status"}, &out, io.Discard); err != nil {
		t.Errorf("token from the environment: %v", err)
	}
}

// TestPOSEventsFollow streams events until the context ends.
func TestPOSEventsFollow(t *testing.T) {
	url, token := startPOSBox(t)
	if _, _, err := pos(t, url, token, "sale", "--amount", "1000", "--reference", "cli-00000005"); err != nil {
		t.Fatal(err)
	}
	out := agenttest.NewLogs()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"pos", "--url", url, "--token", token, "events", "--follow"}, out, io.Discard)
	}()
	waitOutput(t, out, "#1  ")
	if _, _, err := pos(t, url, token, "cancel", "cli-00000005"); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "cli-00000005  cancelled")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("events --follow ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events --follow did not end with its context")
	}
}
