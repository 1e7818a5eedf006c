package sim

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

func TestMagicAmountsFailApproval(t *testing.T) {
	g := newRig(t, Options{App: AppPolicy{Action: Approve, Delay: time.Second}})
	for _, v := range []int64{151, 182, 183, 184, 186, 187, 197, 202} {
		g.create(fmt.Sprintf("magic-ref-%d", v), v)
	}
	g.create("magic-ref-ok", 150)
	g.clock.Advance(time.Second)
	for _, v := range []int64{151, 182, 183, 184, 186, 187, 197, 202} {
		ref := fmt.Sprintf("magic-ref-%d", v)
		if p := g.get(ref); p.State != epayment.StateAborted {
			t.Fatalf("%d: state %s, want ABORTED", v, p.State)
		}
		if got := eventNames(g.events(ref)); got != "CREATED,ABORTED" {
			t.Fatalf("%d: events %s", v, got)
		}
	}
	if p := g.get("magic-ref-ok"); p.State != epayment.StateAuthorized {
		t.Fatalf("150: state %s", p.State)
	}
	// Force approve fails the same way.
	g.SetAppForTest("", AppPolicy{Action: Ignore})
	g.create("magic-force-151", 151)
	g.call("POST", "/epayment/v1/test/payments/magic-force-151/approve", map[string]any{"customer": phone("4712345678")}).
		wantError(http.StatusBadRequest, codeApproveFailed)
	if p := g.get("magic-force-151"); p.State != epayment.StateAborted {
		t.Fatalf("state %s", p.State)
	}
}

func TestMagicAmountUnknownResult(t *testing.T) {
	g := newRig(t, Options{App: AppPolicy{Action: Approve, Delay: time.Second}, TokenLifetime: 24 * time.Hour})
	ref := "magic-ref-201"
	g.create(ref, 201)
	if exp := g.info(ref).ExpiresAt; !exp.Equal(testStart.Add(time.Hour)) {
		t.Fatalf("expires at %v, want an hour after create", exp)
	}
	g.clock.Advance(30 * time.Minute)
	if p := g.get(ref); p.State != epayment.StateCreated {
		t.Fatalf("state %s after 30 min, want CREATED", p.State)
	}
	g.call("POST", "/epayment/v1/test/payments/"+ref+"/approve", map[string]any{"customer": phone("4712345678")}).
		wantError(http.StatusBadRequest, codeApproveFailed)
	g.clock.Advance(30 * time.Minute)
	if p := g.get(ref); p.State != epayment.StateExpired {
		t.Fatalf("state %s after 1 h, want EXPIRED", p.State)
	}
}

func TestMagicRefundAmounts(t *testing.T) {
	g := newRig(t, Options{})
	ref := "magic-refund1"
	g.create(ref, 10000)
	g.approve(ref)
	g.modification(g.capture(ref, newKey(), 10000))
	g.refund(ref, newKey(), 123).wantError(http.StatusBadRequest, codeRefundNotPossible)
	g.refund(ref, newKey(), 124).wantError(http.StatusBadRequest, codeRefundPeriodExpired)
	g.modification(g.refund(ref, newKey(), 125))
	wantAggregate(t, g.get(ref).Aggregate, 10000, 10000, 125, 0)
	if got := eventNames(g.events(ref)); got != "CREATED,AUTHORIZED,CAPTURED,REFUNDED(failed),REFUNDED(failed),REFUNDED" {
		t.Fatalf("events %s", got)
	}
	if ops := g.info(ref).Ops; ops.Refund != 1 {
		t.Fatalf("refunds applied: %d", ops.Refund)
	}
}

// SetAppForTest sets an app policy straight on the simulator.
func (g *rig) SetAppForTest(target string, p AppPolicy) { g.sim.SetApp(target, p) }
