package sim

import (
	"net/http"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

func TestControlPayments(t *testing.T) {
	g := newRig(t, Options{})
	g.create("ctl-ref-00001", 3000)
	g.approve("ctl-ref-00001")
	key := newKey()
	g.modification(g.capture("ctl-ref-00001", key, 1000))
	g.modification(g.capture("ctl-ref-00001", key, 1000)) // a replay: not counted
	g.capture("ctl-ref-00001", newKey(), 9000).wantError(http.StatusBadRequest, codeCaptureTooHigh)
	g.clock.Advance(time.Second)
	g.create("ctl-ref-00002", 1000)

	var all []PaymentInfo
	g.call("GET", "/sim/payments", nil).want(http.StatusOK).decode(&all)
	if len(all) != 2 || all[0].Reference != "ctl-ref-00001" || all[1].Reference != "ctl-ref-00002" {
		t.Fatalf("payments %+v", all)
	}
	p := all[0]
	if p.Ops != (OpCounts{Create: 1, Capture: 1}) || p.State != epayment.StateAuthorized || p.MSN != testMSN ||
		p.Aggregate.CapturedAmount.Value != 1000 || p.PhoneNumber != "4712345678" || p.Customer == nil ||
		p.UserFlow != "PUSH_MESSAGE" || len(p.Events) != 3 || !p.CreatedAt.Equal(testStart) || p.PSPReference != p.Events[0].PSPReference {
		t.Fatalf("payment info %+v", p)
	}
	if p.CustomerInteraction != "CUSTOMER_PRESENT" || p.PaymentDescription != "Kjøp i butikk" ||
		p.SystemHeaders["Vipps-System-Name"] != "tillbox" || p.SystemHeaders["Vipps-System-Version"] != "test" {
		t.Fatalf("what the client sent: %q %q %v", p.CustomerInteraction, p.PaymentDescription, p.SystemHeaders)
	}
	var one PaymentInfo
	g.call("GET", "/sim/payments/ctl-ref-00002?msn="+testMSN, nil).want(http.StatusOK).decode(&one)
	if one.Reference != "ctl-ref-00002" || !one.ExpiresAt.Equal(testStart.Add(time.Second+paymentLifetime)) {
		t.Fatalf("payment info %+v", one)
	}
	g.call("GET", "/sim/payments/ctl-ref-00002?msn=999999", nil).want(http.StatusNotFound)
	g.call("GET", "/sim/payments/nope", nil).want(http.StatusNotFound)
}

func TestControlClock(t *testing.T) {
	g := newRig(t, Options{})
	var c clockState
	g.call("GET", "/sim/clock", nil).want(http.StatusOK).decode(&c)
	if !c.Now.Equal(testStart) {
		t.Fatalf("clock %v", c.Now)
	}
	g.create("clock-ref-0001", 1000)
	g.call("POST", "/sim/clock/advance", map[string]any{"ms": paymentLifetime.Milliseconds()}).want(http.StatusOK).decode(&c)
	if !c.Now.Equal(testStart.Add(paymentLifetime)) {
		t.Fatalf("clock %v after advance", c.Now)
	}
	if s := g.get("clock-ref-0001").State; s != epayment.StateExpired {
		t.Fatalf("state %s after advancing 10 min", s)
	}
	g.call("POST", "/sim/clock/advance", map[string]any{"ms": -1}).want(http.StatusBadRequest)

	real := newRig(t, Options{Clock: NewScaledClock(1)})
	real.call("POST", "/sim/clock/advance", map[string]any{"ms": 1000}).want(http.StatusBadRequest)
	var rc clockState
	real.call("GET", "/sim/clock", nil).want(http.StatusOK).decode(&rc)
	if d := time.Since(rc.Now); d < 0 || d > time.Minute {
		t.Fatalf("scaled clock reads %v", rc.Now)
	}
}

func TestControlUsers(t *testing.T) {
	g := newRig(t, Options{})
	var users []User
	g.call("GET", "/sim/users", nil).want(http.StatusOK).decode(&users)
	if len(users) != len(SeedUsers()) {
		t.Fatalf("%d users, want the %d seeded", len(users), len(SeedUsers()))
	}
	g.call("POST", "/sim/users", map[string]any{"phoneNumber": "4711112222", "ineligible": true}).want(http.StatusCreated)
	g.call("POST", "/epayment/v1/payments", createBody("users-ref-001", 1000, phone("4711112222")), "Idempotency-Key", newKey()).
		wantError(http.StatusBadRequest, codeCustomerNotFound)
	g.call("POST", "/sim/users", map[string]any{"phoneNumber": "12"}).want(http.StatusBadRequest)
	g.call("POST", "/sim/users", map[string]any{"phoneNumber": "4711112222", "token": "a b"}).want(http.StatusBadRequest)
	g.call("POST", "/sim/users", `{"phoneNumber":`).want(http.StatusBadRequest)
}
