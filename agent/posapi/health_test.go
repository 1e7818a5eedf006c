package posapi

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tillbox/tillbox/agent"
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
	if !slices.Equal(names, []string{"store", "epayment", "scanner counter"}) {
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
	if a.status != http.StatusServiceUnavailable || rd.Ready || rd.Checks[2].OK || rd.Checks[2].Detail != "not connected" {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

// TestReadyzStoreClosed: a database that cannot be read is not ready, and
// the answer says so without the store's error text.
func TestReadyzStoreClosed(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	r.dbClosed = true
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
