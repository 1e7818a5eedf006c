package sim

import (
	"net/http"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

func TestAppPolicies(t *testing.T) {
	g := newRig(t, Options{App: AppPolicy{Action: Approve, Delay: 2 * time.Second}})
	// Through the control API: per phone number, per reference, default.
	g.call("POST", "/sim/app", map[string]any{"phoneNumber": "4791234567", "action": "reject", "delayMs": 1000}).want(http.StatusNoContent)
	g.call("POST", "/sim/app", map[string]any{"reference": "app-ref-byref", "action": "approve", "delayMs": 500}).want(http.StatusNoContent)
	g.call("POST", "/sim/app", map[string]any{"phoneNumber": "4520123456", "action": "ignore"}).want(http.StatusNoContent)

	mk := func(ref, msisdn string) {
		g.call("POST", "/epayment/v1/payments", createBody(ref, 1000, phone(msisdn)), "Idempotency-Key", newKey()).want(http.StatusCreated)
	}
	mk("app-ref-default", "4712345678") // default: approve after 2 s
	mk("app-ref-byphone", "4791234567") // reject after 1 s
	mk("app-ref-byref", "4791234567")   // reference beats phone: approve after 0.5 s
	mk("app-ref-ignored", "4520123456") // ignore: expires

	state := func(ref string) epayment.State { return g.get(ref).State }
	g.clock.Advance(499 * time.Millisecond)
	if s := state("app-ref-byref"); s != epayment.StateCreated {
		t.Fatalf("byref before its delay: %s", s)
	}
	g.clock.Advance(time.Millisecond)
	if s := state("app-ref-byref"); s != epayment.StateAuthorized {
		t.Fatalf("byref after 0.5 s: %s", s)
	}
	g.clock.Advance(500 * time.Millisecond)
	if s := state("app-ref-byphone"); s != epayment.StateAborted {
		t.Fatalf("byphone after 1 s: %s", s)
	}
	if s := state("app-ref-default"); s != epayment.StateCreated {
		t.Fatalf("default after 1 s: %s", s)
	}
	g.clock.Advance(time.Second)
	if s := state("app-ref-default"); s != epayment.StateAuthorized {
		t.Fatalf("default after 2 s: %s", s)
	}
	g.clock.Advance(paymentLifetime)
	if s := state("app-ref-ignored"); s != epayment.StateExpired {
		t.Fatalf("ignored after 10 min: %s", s)
	}
	if got := eventNames(g.events("app-ref-byphone")); got != "CREATED,ABORTED" {
		t.Fatalf("rejected payment events %s", got)
	}
	// Changing the default.
	g.call("POST", "/sim/app", map[string]any{"action": "reject", "delayMs": 0}).want(http.StatusNoContent)
	mk("app-ref-newdef", "4712345678")
	g.clock.Advance(0)
	if s := state("app-ref-newdef"); s != epayment.StateAborted {
		t.Fatalf("new default: %s", s)
	}
	// Bad control requests.
	g.call("POST", "/sim/app", map[string]any{"action": "maybe"}).want(http.StatusBadRequest)
	g.call("POST", "/sim/app", map[string]any{"phoneNumber": "12", "action": "approve"}).want(http.StatusBadRequest)
	g.call("POST", "/sim/app", map[string]any{"phoneNumber": "4712345678", "reference": "x", "action": "approve"}).want(http.StatusBadRequest)
	g.call("POST", "/sim/app", map[string]any{"action": "approve", "delayMs": -1}).want(http.StatusBadRequest)
}

func TestSetAppTargets(t *testing.T) {
	g := newRig(t, Options{})
	g.sim.SetApp("4712345678", AppPolicy{Action: Approve})
	g.sim.SetApp("ref:123456789012", AppPolicy{Action: Reject}) // a numeric reference
	g.call("POST", "/epayment/v1/payments", createBody("123456789012", 1000, phone("4712345678")), "Idempotency-Key", newKey()).want(http.StatusCreated)
	g.create("settarget-ref1", 1000)
	g.clock.Advance(0)
	if s := g.get("123456789012").State; s != epayment.StateAborted {
		t.Fatalf("numeric reference policy: %s", s)
	}
	if s := g.get("settarget-ref1").State; s != epayment.StateAuthorized {
		t.Fatalf("phone policy: %s", s)
	}
	g.sim.SetApp("4712345678", AppPolicy{}) // removes the override: back to the rig's Ignore
	g.create("settarget-ref2", 1000)
	g.clock.Advance(time.Minute)
	if s := g.get("settarget-ref2").State; s != epayment.StateCreated {
		t.Fatalf("after removing the override: %s", s)
	}
}

func TestForceApprove(t *testing.T) {
	g := newRig(t, Options{})
	approve := func(ref string, body any) res {
		return g.call("POST", "/epayment/v1/test/payments/"+ref+"/approve", body)
	}
	g.create("force-ref-001", 1000)
	approve("force-ref-001", map[string]any{"customer": phone("4791234567")}).wantError(http.StatusBadRequest, codeApproveNotAllowed)
	approve("force-ref-001", map[string]any{"token": "wrong"}).wantError(http.StatusBadRequest, codeApproveNotAllowed)
	approve("force-ref-001", map[string]any{}).wantField("customer")
	r := approve("force-ref-001", map[string]any{"customer": map[string]any{"personalQr": "https://qr.vipps.no/28/2/01/031/4712345678?v=1"}})
	r.want(http.StatusOK)
	if len(r.Body) != 0 {
		t.Fatalf("force approve answered a body: %s", r.Body)
	}
	if p := g.get("force-ref-001"); p.State != epayment.StateAuthorized {
		t.Fatalf("state %s", p.State)
	}
	wantAggregate(t, g.get("force-ref-001").Aggregate, 1000, 0, 0, 0)
	approve("force-ref-001", map[string]any{"customer": phone("4712345678")}).wantError(http.StatusBadRequest, codeAlreadyReserved)

	// With the token of a redirect flow's redirectUrl, for a payment without a customer.
	b := createBody("force-ref-002", 1000, nil)
	b["userFlow"] = "WEB_REDIRECT"
	b["returnUrl"] = "https://shop.example/back"
	var cr epayment.CreatePaymentResponse
	g.call("POST", "/epayment/v1/payments", b, "Idempotency-Key", newKey()).want(http.StatusCreated).decode(&cr)
	token := cr.RedirectURL[len("https://landing.vipps.no?token="):]
	approve("force-ref-002", map[string]any{"token": token}).want(http.StatusOK)
	if p := g.get("force-ref-002"); p.State != epayment.StateAuthorized {
		t.Fatalf("state %s", p.State)
	}
	// Any eligible customer may approve a payment that names none.
	b["reference"] = "force-ref-003"
	g.call("POST", "/epayment/v1/payments", b, "Idempotency-Key", newKey()).want(http.StatusCreated)
	approve("force-ref-003", map[string]any{"customer": phone("4700000000")}).wantError(http.StatusBadRequest, codeCustomerNotFound)
	approve("force-ref-003", map[string]any{"customer": phone("4791234567")}).want(http.StatusOK)
	if got := g.info("force-ref-003").PhoneNumber; got != "4791234567" {
		t.Fatalf("payer %q", got)
	}
	if got := eventNames(g.events("force-ref-003")); got != "CREATED,AUTHORIZED" {
		t.Fatalf("events %s", got)
	}
}

// TestAppPolicyForExistingPayment: a policy set for the reference of a payment
// still CREATED replaces its pending decision, its delay counted from then.
func TestAppPolicyForExistingPayment(t *testing.T) {
	g := newRig(t, Options{App: AppPolicy{Action: Approve, Delay: 2 * time.Second}})
	g.create("app-late-reject", 1000)  // would be approved at 2 s
	g.create("app-late-approve", 1000) // likewise, approved later instead
	g.create("app-late-ignore", 1000)  // likewise, never approved
	g.clock.Advance(time.Second)

	g.call("POST", "/sim/app", map[string]any{"reference": "app-late-reject", "action": "reject"}).want(http.StatusNoContent)
	g.call("POST", "/sim/app", map[string]any{"reference": "app-late-approve", "action": "approve", "delayMs": 3000}).want(http.StatusNoContent)
	g.call("POST", "/sim/app", map[string]any{"reference": "app-late-ignore", "action": "ignore"}).want(http.StatusNoContent)
	g.clock.Advance(0)
	if s := g.get("app-late-reject").State; s != epayment.StateAborted {
		t.Fatalf("reject set for a CREATED payment: %s, want ABORTED at once", s)
	}
	g.clock.Advance(2999 * time.Millisecond) // 4 s: past the old 2 s, before the new 1 s + 3 s
	if s := g.get("app-late-approve").State; s != epayment.StateCreated {
		t.Fatalf("approve re-scheduled for 3 s from 1 s: %s at 3.999 s", s)
	}
	if s := g.get("app-late-ignore").State; s != epayment.StateCreated {
		t.Fatalf("ignore: %s at 3.999 s", s)
	}
	g.clock.Advance(time.Millisecond)
	if s := g.get("app-late-approve").State; s != epayment.StateAuthorized {
		t.Fatalf("approve re-scheduled: %s at 4 s", s)
	}
	if got := eventNames(g.events("app-late-approve")); got != "CREATED,AUTHORIZED" {
		t.Fatalf("events %s: the old decision acted too", got)
	}
	g.clock.Advance(paymentLifetime)
	if s := g.get("app-late-ignore").State; s != epayment.StateExpired {
		t.Fatalf("ignore: %s after 10 min", s)
	}
	// A final payment is not touched.
	g.call("POST", "/sim/app", map[string]any{"reference": "app-late-reject", "action": "approve"}).want(http.StatusNoContent)
	g.clock.Advance(time.Second)
	if got := eventNames(g.events("app-late-reject")); got != "CREATED,ABORTED" {
		t.Fatalf("events of an aborted payment after a new policy: %s", got)
	}
}

// TestCancelMidAuthorisation: in the last 100 ms before the app approves, a
// cancel gets 6250 and changes nothing; before the window it terminates, and
// once authorised it releases the reservation.
func TestCancelMidAuthorisation(t *testing.T) {
	g := newRig(t, Options{App: AppPolicy{Action: Approve, Delay: 2 * time.Second}})
	g.create("midauth-ref-01", 1000)
	g.create("midauth-ref-02", 1000)
	g.clock.Advance(1899 * time.Millisecond)
	m := g.modification(g.cancel("midauth-ref-02", newKey(), nil)) // 101 ms before: not yet
	if m.State != epayment.StateTerminated {
		t.Fatalf("cancel 101 ms before the approval: %s", m.State)
	}
	g.clock.Advance(time.Millisecond) // 100 ms before the approval
	key := newKey()
	g.cancel("midauth-ref-01", key, nil).wantError(http.StatusBadRequest, codeCancelProcessing)
	g.clock.Advance(99 * time.Millisecond)
	g.cancel("midauth-ref-01", newKey(), map[string]any{"cancelTransactionOnly": true}).wantError(http.StatusBadRequest, codeCancelProcessing)
	if p := g.info("midauth-ref-01"); p.State != epayment.StateCreated || p.Ops.Cancel != 0 {
		t.Fatalf("after refused cancels: %s, %d cancels", p.State, p.Ops.Cancel)
	}
	g.clock.Advance(time.Millisecond)
	if s := g.get("midauth-ref-01").State; s != epayment.StateAuthorized {
		t.Fatalf("at 2 s: %s", s)
	}
	// The 6250 stays for its key (a 4xx stays a 4xx); a new key cancels.
	g.cancel("midauth-ref-01", key, nil).wantError(http.StatusBadRequest, codeCancelProcessing)
	m = g.modification(g.cancel("midauth-ref-01", newKey(), nil))
	if m.State != epayment.StateAuthorized || m.Aggregate.CancelledAmount.Value != 1000 {
		t.Fatalf("cancel after the approval: %+v", m)
	}
	// Reject and ignore have no authorisation window.
	g.sim.SetApp("ref:midauth-ref-03", AppPolicy{Action: Reject, Delay: time.Second})
	g.create("midauth-ref-03", 1000)
	g.clock.Advance(950 * time.Millisecond)
	if m := g.modification(g.cancel("midauth-ref-03", newKey(), nil)); m.State != epayment.StateTerminated {
		t.Fatalf("cancel before a rejection: %s", m.State)
	}
}
