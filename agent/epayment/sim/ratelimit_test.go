package sim

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRateLimitModifications(t *testing.T) {
	g := newRig(t, Options{})
	ref := "ratelimit-ref1"
	g.create(ref, 100000)
	g.approve(ref)
	g.clock.Advance(10 * time.Second)
	for i := range 5 {
		g.modification(g.capture(ref, newKey(), 100))
		if i < 4 {
			g.clock.Advance(time.Second)
		}
	}
	// 5 captures in the last minute: the sixth is refused, and not applied.
	r := g.capture(ref, newKey(), 100)
	r.wantError(http.StatusTooManyRequests, "")
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra != 56 { // the first capture leaves the window 60 s after it: 4 s have passed
		t.Fatalf("Retry-After %q, want 56", r.Header.Get("Retry-After"))
	}
	wantAggregate(t, g.get(ref).Aggregate, 100000, 500, 0, 0)
	// Other operations and other payments have their own counts.
	g.modification(g.refund(ref, newKey(), 100))
	g.create("ratelimit-ref2", 1000)

	g.clock.Advance(time.Duration(ra-1) * time.Second)
	g.capture(ref, newKey(), 100).wantError(http.StatusTooManyRequests, "")
	g.clock.Advance(time.Second) // the first capture left the window
	g.modification(g.capture(ref, newKey(), 100))
	g.capture(ref, newKey(), 100).wantError(http.StatusTooManyRequests, "") // the second is still in it
	if ops := g.info(ref).Ops; ops.Capture != 6 {
		t.Fatalf("captures applied: %d, want 6", ops.Capture)
	}
}

func TestRateLimitCreatePerReference(t *testing.T) {
	g := newRig(t, Options{})
	body := createBody("rl-create-ref1", 50, phone("4712345678")) // below minimum: refused, but counted
	for range 5 {
		g.call("POST", "/epayment/v1/payments", body, "Idempotency-Key", newKey()).wantError(http.StatusBadRequest, codeAmountTooSmall)
	}
	g.call("POST", "/epayment/v1/payments", body, "Idempotency-Key", newKey()).wantError(http.StatusTooManyRequests, "")
	g.create("rl-create-ref2", 1000) // another reference
	g.clock.Advance(time.Minute)
	g.create("rl-create-ref1", 1000)
}

func TestRateLimitQueries(t *testing.T) {
	g := newRig(t, Options{})
	ref := "rl-get-ref-01"
	g.create(ref, 1000)
	for range 120 {
		g.call("GET", "/epayment/v1/payments/"+ref, nil).want(http.StatusOK)
	}
	r := g.call("GET", "/epayment/v1/payments/"+ref, nil)
	r.wantError(http.StatusTooManyRequests, "")
	if r.Header.Get("Retry-After") != "60" {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Per subscription key: the secondary key has its own count.
	g.call("GET", "/epayment/v1/payments/"+ref, nil, "Ocp-Apim-Subscription-Key", "sub-key-secondary").want(http.StatusOK)
	// The event log is counted on its own.
	for range 120 {
		g.call("GET", "/epayment/v1/payments/"+ref+"/events", nil).want(http.StatusOK)
	}
	g.call("GET", "/epayment/v1/payments/"+ref+"/events", nil).wantError(http.StatusTooManyRequests, "")
	g.clock.Advance(time.Minute)
	g.call("GET", "/epayment/v1/payments/"+ref, nil).want(http.StatusOK)
}
