package sim

import (
	"net/http"
	"testing"
)

func TestCreateReplay(t *testing.T) {
	g := newRig(t, Options{})
	key := newKey()
	body := createBody("replay-ref-01", 1000, phone("4712345678"))
	first := g.call("POST", "/epayment/v1/payments", body, "Idempotency-Key", key).want(http.StatusCreated)
	// The same request, encoded differently (key order), is the same request.
	again := g.call("POST", "/epayment/v1/payments",
		`{"userFlow":"PUSH_MESSAGE","reference":"replay-ref-01","paymentMethod":{"type":"WALLET"},"paymentDescription":"Kjøp i butikk",`+
			`"customerInteraction":"CUSTOMER_PRESENT","customer":{"phoneNumber":"4712345678"},"amount":{"value":1000,"currency":"NOK"}}`,
		"Idempotency-Key", key).want(http.StatusCreated)
	if string(first.Body) != string(again.Body) {
		t.Fatalf("replay %s differs from %s", again.Body, first.Body)
	}
	if n := len(g.events("replay-ref-01")); n != 1 {
		t.Fatalf("%d events after a replayed create", n)
	}
	// Same key, another body: 409 (create: 4020).
	changed := createBody("replay-ref-01", 2000, phone("4712345678"))
	g.call("POST", "/epayment/v1/payments", changed, "Idempotency-Key", key).wantError(http.StatusConflict, codeIdempotency)
	// New key, existing reference: 4150.
	g.call("POST", "/epayment/v1/payments", body, "Idempotency-Key", newKey()).wantError(http.StatusConflict, codeReferenceExists)
	if ops := g.info("replay-ref-01").Ops; ops.Create != 1 {
		t.Fatalf("create applied %d times", ops.Create)
	}
}

func TestModificationReplay(t *testing.T) {
	g := newRig(t, Options{})
	ref := "replay-mod-01"
	g.create(ref, 10000)
	g.approve(ref)

	ck := newKey()
	first := g.capture(ref, ck, 1000).want(http.StatusOK)
	again := g.capture(ref, ck, 1000).want(http.StatusOK)
	if string(first.Body) != string(again.Body) {
		t.Fatalf("capture replay %s differs from %s", again.Body, first.Body)
	}
	wantAggregate(t, g.get(ref).Aggregate, 10000, 1000, 0, 0)
	g.capture(ref, ck, 2000).wantError(http.StatusConflict, codeCaptureIdemConflict)

	rk := newKey()
	g.refund(ref, rk, 300).want(http.StatusOK)
	g.refund(ref, rk, 300).want(http.StatusOK)
	g.refund(ref, rk, 400).wantError(http.StatusConflict, codeReferenceExists) // refund conflict is 4150
	wantAggregate(t, g.get(ref).Aggregate, 10000, 1000, 300, 0)

	// A key used for another operation.
	g.refund(ref, ck, 1000).wantError(http.StatusConflict, codeIdempotency)
	g.cancel(ref, ck, nil).wantError(http.StatusConflict, codeIdempotency)
	// ... or for the same operation on another payment.
	g.create("replay-mod-02", 1000)
	g.approve("replay-mod-02")
	g.capture("replay-mod-02", ck, 1000).wantError(http.StatusConflict, codeIdempotency)

	// Cancel with a key replays too.
	xk := newKey()
	c1 := g.cancel(ref, xk, nil).want(http.StatusOK)
	c2 := g.cancel(ref, xk, nil).want(http.StatusOK)
	if string(c1.Body) != string(c2.Body) {
		t.Fatal("cancel replay differs")
	}
	g.cancel(ref, xk, map[string]any{"cancelTransactionOnly": true}).wantError(http.StatusConflict, codeIdempotency)

	if ops := g.info(ref).Ops; ops != (OpCounts{Create: 1, Capture: 1, Refund: 1, Cancel: 1}) {
		t.Fatalf("ops %+v: replays were applied", ops)
	}
	if got := eventNames(g.events(ref)); got != "CREATED,AUTHORIZED,CAPTURED,REFUNDED,CANCELLED" {
		t.Fatalf("events %s", got)
	}
}

func TestErrorAnswerStaysForItsKey(t *testing.T) {
	g := newRig(t, Options{})
	ref := "sticky-4xx-01"
	g.create(ref, 1000)
	key := newKey()
	first := g.capture(ref, key, 1000)
	first.wantError(http.StatusBadRequest, codeCaptureBeforeReserve)
	g.approve(ref)
	// The payment can now be captured, but not with the key that got a 400.
	again := g.capture(ref, key, 1000)
	again.wantError(http.StatusBadRequest, codeCaptureBeforeReserve)
	if string(again.Body) != string(first.Body) {
		t.Fatal("the kept 400 was not replayed as it was")
	}
	g.modification(g.capture(ref, newKey(), 1000))
	if ops := g.info(ref).Ops; ops.Capture != 1 {
		t.Fatalf("ops %+v", ops)
	}
}
