package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/posapi"
)

// TestRunProbesAndBusy: `tillbox run` serves /healthz and /readyz without a
// token and without secrets, and `tillbox busy` exits 0 when idle and
// ExitBusy while a sale waits for its customer, reading the token and the
// address from the configuration file.
func TestRunProbesAndBusy(t *testing.T) {
	t.Setenv("TILLBOX_POS_TOKEN", "")
	t.Setenv("TILLBOX_POS_URL", "")
	tl := startTill(t, "")

	for _, path := range []string{posapi.PathHealthz, posapi.PathReadyz} {
		resp, err := http.Get(tl.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK && !(path == posapi.PathReadyz && resp.StatusCode == http.StatusServiceUnavailable) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if strings.Contains(string(body), testToken) || strings.Contains(string(body), "secret") {
			t.Fatalf("%s shows a secret: %s", path, body)
		}
		if path == posapi.PathReadyz {
			var rd posapi.Readiness
			if err := json.Unmarshal(body, &rd); err != nil || len(rd.Checks) < 2 || rd.Checks[0].Name != "store" || !rd.Checks[0].OK {
				t.Fatalf("%s: %v %s", path, err, body)
			}
		}
	}

	busy := func() (string, error) {
		var out, errOut bytes.Buffer
		err := run(t.Context(), []string{"busy", "--config", tl.config, "--url", tl.url}, &out, &errOut)
		if strings.Contains(out.String()+errOut.String(), testToken) {
			t.Fatalf("tillbox busy prints the token")
		}
		return out.String(), err
	}
	if out, err := busy(); err != nil || !strings.HasPrefix(out, "idle") {
		t.Fatalf("idle box: %q %v", out, err)
	}
	req := agent.SaleRequest{Reference: "busy-till-0001", Amount: 1000, Currency: "NOK", Description: "Groceries"}
	if _, _, err := tl.client.CreateSale(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	out, err := busy()
	var exit *exitError
	if !errors.As(err, &exit) || exit.code != ExitBusy || !strings.Contains(out, "busy-till-0001") {
		t.Fatalf("busy box: %q %v", out, err)
	}
	if _, err := tl.client.CancelSale(t.Context(), "busy-till-0001"); err != nil {
		t.Fatal(err)
	}
	tl.waitState("busy-till-0001", agent.Cancelled)
	if out, err := busy(); err != nil || !strings.HasPrefix(out, "idle") {
		t.Fatalf("after the cancel: %q %v", out, err)
	}
	if err := tl.stop(); err != nil {
		t.Fatal(err)
	}
	// A stopped agent: busy cannot tell, and says so with status 1.
	if _, err := busy(); err == nil || errors.As(err, &exit) {
		t.Fatalf("stopped box: %v", err)
	}
}
