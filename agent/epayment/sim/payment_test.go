package sim

import (
	"net/http"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

func TestCaptureAndRefundAggregate(t *testing.T) {
	g := newRig(t, Options{})
	ref := "agg-ref-00001"
	g.create(ref, 10000)
	g.approve(ref)
	p := g.get(ref)
	if p.State != epayment.StateAuthorized {
		t.Fatalf("state %s", p.State)
	}
	wantAggregate(t, p.Aggregate, 10000, 0, 0, 0)

	m := g.modification(g.capture(ref, newKey(), 3000))
	if m.State != epayment.StateAuthorized || m.Amount != nok(10000) || m.Reference != ref || m.PSPReference != p.PSPReference {
		t.Fatalf("capture answer %+v", m)
	}
	wantAggregate(t, m.Aggregate, 10000, 3000, 0, 0)
	m = g.modification(g.capture(ref, newKey(), 2000))
	wantAggregate(t, m.Aggregate, 10000, 5000, 0, 0)
	m = g.modification(g.refund(ref, newKey(), 1500))
	wantAggregate(t, m.Aggregate, 10000, 5000, 1500, 0)
	m = g.modification(g.refund(ref, newKey(), 500))
	wantAggregate(t, m.Aggregate, 10000, 5000, 2000, 0)
	g.refund(ref, newKey(), 3001).wantError(http.StatusBadRequest, codeNotEnoughRefundable) // 5000 captured - 2000 refunded
	g.capture(ref, newKey(), 5001).wantError(http.StatusBadRequest, codeCaptureTooHigh)     // 10000 - 5000 left
	m = g.modification(g.capture(ref, newKey(), 5000))
	wantAggregate(t, m.Aggregate, 10000, 10000, 2000, 0)
	g.capture(ref, newKey(), 1).wantError(http.StatusBadRequest, codeCaptureTooHigh)
	g.cancel(ref, newKey(), nil).wantError(http.StatusBadRequest, codeCancelCaptured)
	g.modification(g.refund(ref, newKey(), 8000))
	if p := g.get(ref); p.State != epayment.StateAuthorized {
		t.Fatalf("after full refund state is %s, want AUTHORIZED (no REFUNDED state)", p.State)
	}
	wantAggregate(t, g.get(ref).Aggregate, 10000, 10000, 10000, 0)

	evs := g.events(ref)
	if got, want := eventNames(evs), "CREATED,AUTHORIZED,CAPTURED,CAPTURED,REFUNDED,REFUNDED,CAPTURED,REFUNDED"; got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if seen[e.PSPReference] || e.PSPReference == "" {
			t.Fatalf("pspReference %q not unique per event", e.PSPReference)
		}
		seen[e.PSPReference] = true
		if e.Reference != ref || e.Amount.Currency != epayment.NOK {
			t.Fatalf("event %+v", e)
		}
	}
	if evs[0].PSPReference != p.PSPReference {
		t.Fatal("GET pspReference is not the CREATED event's")
	}
	if evs[2].Amount.Value != 3000 || evs[5].Amount.Value != 500 || evs[1].IdempotencyKey != nil {
		t.Fatalf("event amounts or keys wrong: %+v", evs)
	}
	if ops := g.info(ref).Ops; ops != (OpCounts{Create: 1, Capture: 3, Refund: 3}) {
		t.Fatalf("ops %+v", ops)
	}
}

func TestModificationBodies(t *testing.T) {
	g := newRig(t, Options{})
	ref := "modbody-ref-1"
	g.create(ref, 1000)
	g.approve(ref)
	path := "/epayment/v1/payments/" + ref + "/capture"
	g.rawCall("POST", path, map[string]any{}, "Idempotency-Key", newKey()).wantField("modificationAmount")
	g.rawCall("POST", path, map[string]any{"modificationAmount": map[string]any{"currency": "NOK", "value": 10.5}}, "Idempotency-Key", newKey()).
		wantError(http.StatusBadRequest, codeInvalidAmount)
	g.call("POST", path, map[string]any{"modificationAmount": map[string]any{"currency": "EUR", "value": 100}}, "Idempotency-Key", newKey()).
		wantField("modificationAmount.currency")
	g.call("POST", path, modBody(0), "Idempotency-Key", newKey()).wantError(http.StatusBadRequest, codeInvalidAmount)
	g.rawCall("POST", "/epayment/v1/payments/"+ref+"/cancel", `{"cancelTransactionOnly":"yes"}`).wantField("cancelTransactionOnly")
	if ops := g.info(ref).Ops; ops.Capture != 0 || ops.Cancel != 0 {
		t.Fatalf("ops %+v", ops)
	}
}

func TestOperationsBeforeAuthorization(t *testing.T) {
	g := newRig(t, Options{})
	ref := "created-ref-1"
	g.create(ref, 1000)
	g.capture(ref, newKey(), 1000).wantError(http.StatusBadRequest, codeCaptureBeforeReserve)
	g.refund(ref, newKey(), 1000).wantError(http.StatusBadRequest, codeRefundBeforeReserve)
	if p := g.get(ref); p.State != epayment.StateCreated {
		t.Fatalf("state %s", p.State)
	}
}

func TestCancelBeforeAuthorization(t *testing.T) {
	for _, body := range []any{nil, map[string]any{"cancelTransactionOnly": true}} {
		g := newRig(t, Options{App: AppPolicy{Action: Approve, Delay: 5 * time.Second}})
		ref := "cancel-ref-01"
		g.create(ref, 2500)
		key := newKey()
		m := g.modification(g.cancel(ref, key, body))
		if m.State != epayment.StateTerminated {
			t.Fatalf("state %s, want TERMINATED", m.State)
		}
		wantAggregate(t, m.Aggregate, 0, 0, 0, 2500)
		// The app's later approval does not resurrect it.
		g.clock.Advance(10 * time.Second)
		if p := g.get(ref); p.State != epayment.StateTerminated {
			t.Fatalf("state %s after the app's delay", p.State)
		}
		evs := g.events(ref)
		if got := eventNames(evs); got != "CREATED,TERMINATED" {
			t.Fatalf("events %s", got)
		}
		if evs[1].IdempotencyKey == nil || *evs[1].IdempotencyKey != key || evs[1].Amount.Value != 2500 {
			t.Fatalf("TERMINATED event %+v", evs[1])
		}
		g.cancel(ref, newKey(), nil).wantError(http.StatusBadRequest, codeCannotCancel)
		g.capture(ref, newKey(), 100).wantError(http.StatusBadRequest, codeCannotCapture)
		g.refund(ref, newKey(), 100).wantError(http.StatusBadRequest, codeCannotRefund)
		g.call("POST", "/epayment/v1/test/payments/"+ref+"/approve", map[string]any{"customer": phone("4712345678")}).
			wantError(http.StatusBadRequest, codeApproveNotAllowed)
	}
}

func TestCancelAfterAuthorization(t *testing.T) {
	g := newRig(t, Options{})
	ref := "cancel-auth-01"
	g.create(ref, 10000)
	g.approve(ref)
	g.cancel(ref, newKey(), map[string]any{"cancelTransactionOnly": true}).wantError(http.StatusBadRequest, codeCancelAuthorized)
	g.modification(g.capture(ref, newKey(), 4000))
	m := g.modification(g.cancel(ref, "", map[string]any{"cancelTransactionOnly": false}))
	if m.State != epayment.StateAuthorized {
		t.Fatalf("state %s, want AUTHORIZED after cancel", m.State)
	}
	wantAggregate(t, m.Aggregate, 10000, 4000, 0, 6000)
	g.capture(ref, newKey(), 100).wantError(http.StatusBadRequest, codeCaptureCancelled)
	// A second cancel has nothing left to release: same answer, no new event.
	m = g.modification(g.cancel(ref, "", nil))
	wantAggregate(t, m.Aggregate, 10000, 4000, 0, 6000)
	g.modification(g.refund(ref, newKey(), 4000))
	evs := g.events(ref)
	if got := eventNames(evs); got != "CREATED,AUTHORIZED,CAPTURED,CANCELLED,REFUNDED" {
		t.Fatalf("events %s", got)
	}
	if evs[3].Amount.Value != 6000 || evs[3].IdempotencyKey != nil {
		t.Fatalf("CANCELLED event %+v", evs[3])
	}
	if ops := g.info(ref).Ops; ops != (OpCounts{Create: 1, Capture: 1, Refund: 1, Cancel: 1}) {
		t.Fatalf("ops %+v", ops)
	}
}

func TestExpiryAfterTenMinutes(t *testing.T) {
	g := newRig(t, Options{})
	ref := "expire-ref-01"
	g.create(ref, 1000)
	g.clock.Advance(paymentLifetime - time.Millisecond)
	if p := g.get(ref); p.State != epayment.StateCreated {
		t.Fatalf("state %s before 10 minutes", p.State)
	}
	g.clock.Advance(time.Millisecond)
	p := g.get(ref)
	if p.State != epayment.StateExpired {
		t.Fatalf("state %s after 10 minutes", p.State)
	}
	wantAggregate(t, p.Aggregate, 0, 0, 0, 0)
	evs := g.events(ref)
	if got := eventNames(evs); got != "CREATED,EXPIRED" || !evs[1].Timestamp.Equal(testStart.Add(paymentLifetime)) {
		t.Fatalf("events %s at %v", got, evs[len(evs)-1].Timestamp)
	}
	g.capture(ref, newKey(), 100).wantError(http.StatusBadRequest, codeCannotCapture)
	g.refund(ref, newKey(), 100).wantError(http.StatusBadRequest, codeCannotRefund)
	g.cancel(ref, newKey(), nil).wantError(http.StatusBadRequest, codeCannotCancel)
	// Force approving an expired payment is refused.
	g.call("POST", "/epayment/v1/test/payments/"+ref+"/approve", map[string]any{"customer": phone("4712345678")}).
		wantError(http.StatusBadRequest, codeApproveNotAllowed)
}

func TestUnknownReference(t *testing.T) {
	g := newRig(t, Options{})
	ref := "no-such-ref-1"
	g.call("GET", "/epayment/v1/payments/"+ref, nil).wantError(http.StatusNotFound, codeReferenceNotFound)
	g.call("GET", "/epayment/v1/payments/"+ref+"/events", nil).wantError(http.StatusNotFound, codeReferenceNotFound)
	g.capture(ref, newKey(), 100).wantError(http.StatusNotFound, codeReferenceNotFound)
	g.cancel(ref, "", nil).wantError(http.StatusNotFound, codeReferenceNotFound)
	g.call("POST", "/epayment/v1/test/payments/"+ref+"/approve", map[string]any{"token": "x"}).wantError(http.StatusNotFound, codeReferenceNotFound)
	g.rawCall("GET", "/epayment/v1/payments/bad", nil).wantField("reference")
	r := g.rawCall("GET", "/no/such/api", nil) // no spec owns it: only the test checks it
	r.wantError(http.StatusNotFound, "")
}
