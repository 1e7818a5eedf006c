package posapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/device"
)

// TestHealthz: alive without a token, over real HTTP.
func TestHealthz(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	a := r.send(call{method: "GET", path: PathHealthz, auth: "-"})
	if a.status != http.StatusOK || decode[map[string]string](t, a)["status"] != "ok" {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

// TestReadyz: ready with the store open and ePayment reachable; not ready
// with a scanner unplugged; never a secret in the answer.
func TestReadyz(t *testing.T) {
	t.Parallel()
	var connected atomic.Bool
	connected.Store(true)
	r := newRig(t, rigOptions{server: func(s *server) {
		s.scanners = func() []device.Status {
			return []device.Status{{Name: "counter", Driver: "serial", Match: "/dev/ttyACM0", Connected: connected.Load()}}
		}
	}})
	a := r.send(call{method: "GET", path: PathReadyz, auth: "-"})
	rd := decode[Readiness](t, a)
	if a.status != http.StatusOK || !rd.Ready {
		t.Fatalf("%d %s", a.status, a.body)
	}
	names := []string{}
	for _, c := range rd.Checks {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"store", "epayment", "credentials", "scanner counter"}) {
		t.Fatalf("checks %v", names)
	}
	for _, secret := range []string{r.token.Reveal(), "client-secret", "subscription-key"} {
		if strings.Contains(string(a.body), secret) {
			t.Fatalf("a secret in /readyz: %s", a.body)
		}
	}

	connected.Store(false)
	a = r.send(call{method: "GET", path: PathReadyz, auth: "-"})
	rd = decode[Readiness](t, a)
	if a.status != http.StatusServiceUnavailable || rd.Ready || rd.Checks[3].OK || rd.Checks[3].Detail != "not connected" {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

// TestReadyzStoreClosed: a database that cannot be read is not ready, and
// the answer says so without the store's error text.
func TestReadyzStoreClosed(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	if err := r.db.Close(); err != nil {
		t.Fatal(err)
	}
	a := r.send(call{method: "GET", path: PathReadyz, auth: "-"})
	rd := decode[Readiness](t, a)
	if a.status != http.StatusServiceUnavailable || rd.Ready || rd.Checks[0].Name != "store" || rd.Checks[0].OK {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if strings.Contains(string(a.body), "closed") {
		t.Fatalf("the store's error text leaks: %s", a.body)
	}
}

// TestBusy: idle with no sale, busy while a payment request is queued, and
// only with the token.
func TestBusy(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	a := r.send(call{method: "GET", path: "/api/v1/busy"})
	if b := decode[agent.Busy](t, a); a.status != http.StatusOK || b.Busy || len(b.InFlight) != 0 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if a := r.send(call{method: "GET", path: "/api/v1/busy", auth: "-", malformed: true}); a.status != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", a.status)
	}
	if a := r.send(call{method: "GET", path: "/api/v1/busy?x=1", malformed: true}); a.status != http.StatusBadRequest {
		t.Fatalf("with a query: %d", a.status)
	}
	if _, _, err := r.client.CreateSale(t.Context(), sale("busy-0001", 4990)); err != nil {
		t.Fatal(err)
	}
	a = r.send(call{method: "GET", path: "/api/v1/busy"})
	b := decode[agent.Busy](t, a)
	if a.status != http.StatusOK || !b.Busy || !slices.Equal(b.InFlight, []string{"busy-0001"}) || b.Queued != 1 {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

// TestReadyzCredentialsRefused: with every token call answered 401 (a wrong
// client secret), /readyz is 503 naming the credentials and what to check,
// and the status shows the refusal; never the secret.
func TestReadyzCredentialsRefused(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{sim: sim.Options{ClientSecret: "the-right-secret"}})
	ctx := context.Background()
	if _, _, err := r.client.CreateSale(ctx, sale("ref-auth-0001", 1000)); err != nil {
		t.Fatal(err)
	}
	var st agent.Status
	deadline := time.Now().Add(30 * time.Second)
	for st.Auth != agent.AuthRefused {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v: auth never refused", st)
		}
		time.Sleep(5 * time.Millisecond)
		var err error
		if st, err = r.client.Status(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !st.Online || !strings.Contains(st.LastError, "401") {
		t.Errorf("status online=%v lastError=%q, want online (Vipps answers) and the 401", st.Online, st.LastError)
	}
	a := r.send(call{method: "GET", path: PathReadyz, auth: "-"})
	rd := decode[Readiness](t, a)
	if a.status != http.StatusServiceUnavailable || rd.Ready {
		t.Fatalf("/readyz %d %s, want 503", a.status, a.body)
	}
	var c Check
	for _, c = range rd.Checks {
		if !c.OK {
			break
		}
	}
	if c.OK || c.Name != "credentials" || !strings.Contains(c.Detail, "client_secret") {
		t.Errorf("failing check %+v, want credentials naming what to check", c)
	}
	for _, secret := range []string{"client-secret", "the-right-secret", "subscription-key"} {
		if strings.Contains(string(a.body), secret) || strings.Contains(st.LastError, secret) {
			t.Errorf("a secret in /readyz or the status: %s %s", a.body, st.LastError)
		}
	}
}
