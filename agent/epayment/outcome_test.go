package epayment_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// Tests of what a caller learns when an answer is missing, late or
// unreadable: whether to retry with the same key, and whether the operation
// may have been applied.

// TestHTTPClientTimeoutIsRetryable: the http.Client's own timeout is a lost
// answer (retryable, outcome unknown) although its error matches
// context.DeadlineExceeded; only the caller's context ending is not retryable.
func TestHTTPClientTimeoutIsRetryable(t *testing.T) {
	r := newRig(t, sim.Options{}, nil)
	ctx := context.Background()
	ref := r.createAuthorized(ctx, 10000)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	short, err := epayment.New(epayment.Config{BaseURL: r.srv.URL, ClientID: testClientID, ClientSecret: testSecret,
		SubscriptionKey: testSubKey, MSN: testMSN, HTTPClient: &http.Client{Transport: tr, Timeout: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := short.ListWebhooks(ctx); err != nil { // fetch the token before the fault
		t.Fatal(err)
	}
	r.sim.SetFault(sim.Fault{Endpoint: "capturePayment", LatencyMs: 5000})

	_, err = short.CapturePayment(ctx, ref+"-cap", ref, nok(10000))
	var te *epayment.TransportError
	if !errors.As(err, &te) || te.Canceled || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("http.Client timeout gave %T %v (canceled %v); want a TransportError matching DeadlineExceeded, not Canceled", err, err, te != nil && te.Canceled)
	}
	if !epayment.IsRetryable(err) || !epayment.OutcomeUnknown(err) {
		t.Errorf("http.Client timeout: IsRetryable %v, OutcomeUnknown %v; want both true: the capture may have been applied",
			epayment.IsRetryable(err), epayment.OutcomeUnknown(err))
	}

	// The caller's own deadline, and a cancelled context: the caller gave up.
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = r.client.CapturePayment(dctx, ref+"-cap", ref, nok(10000))
	if !errors.As(err, &te) || !te.Canceled || epayment.IsRetryable(err) || !epayment.OutcomeUnknown(err) {
		t.Errorf("caller's deadline gave %v (retryable %v); want a Canceled TransportError, not retryable, outcome unknown", err, epayment.IsRetryable(err))
	}
	cctx, cancel2 := context.WithCancel(ctx)
	cancel2()
	_, err = r.client.CapturePayment(cctx, ref+"-cap", ref, nok(10000))
	if !errors.As(err, &te) || !te.Canceled || epayment.IsRetryable(err) {
		t.Errorf("cancelled context gave %v (retryable %v); want a Canceled TransportError, not retryable", err, epayment.IsRetryable(err))
	}

	// The retry the classification allows applies the capture exactly once.
	r.sim.ClearFaults()
	m, err := r.client.CapturePayment(ctx, ref+"-cap", ref, nok(10000))
	if err != nil || m.Aggregate.CapturedAmount.Value != 10000 {
		t.Fatalf("retry with the same key: %+v, %v", m, err)
	}
	if got := r.payment(ref).Ops.Capture; got != 1 {
		t.Errorf("simulator applied %d captures, want 1", got)
	}
}

// TestUnreadable2xxIsOutcomeUnknown: a 2xx whose body is not the documented
// JSON may mean the operation was applied: retryable, outcome unknown.
func TestUnreadable2xxIsOutcomeUnknown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/accesstoken/get" {
			_, _ = w.Write([]byte(`{"token_type":"Bearer","expires_in":"3600","access_token":"tok"}`))
			return
		}
		_, _ = w.Write([]byte(`<html>garbage`))
	}))
	defer srv.Close()
	c, err := epayment.New(epayment.Config{BaseURL: srv.URL, ClientID: testClientID, ClientSecret: "s", SubscriptionKey: "k", MSN: testMSN})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CapturePayment(context.Background(), "cap-1", "tb-test-garbage", nok(100))
	var de *epayment.DecodeError
	if !errors.As(err, &de) || de.StatusCode != 200 || de.Op != "capturePayment" {
		t.Fatalf("garbage 200 gave %T %v; want a *DecodeError", err, err)
	}
	if !epayment.IsRetryable(err) || !epayment.OutcomeUnknown(err) || epayment.IsPermanent(err) {
		t.Errorf("garbage 200: retryable %v, outcome unknown %v, permanent %v; want retryable and unknown",
			epayment.IsRetryable(err), epayment.OutcomeUnknown(err), epayment.IsPermanent(err))
	}

	// A token answer without a token is unreadable too.
	noTok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"token_type":"Bearer","expires_in":"3600"}`))
	}))
	defer noTok.Close()
	c, err = epayment.New(epayment.Config{BaseURL: noTok.URL, ClientID: testClientID, ClientSecret: "s", SubscriptionKey: "k", MSN: testMSN})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.GetPayment(context.Background(), "tb-test-garbage"); !errors.As(err, &de) || !epayment.IsRetryable(err) {
		t.Errorf("token answer without access_token gave %T %v; want a retryable *DecodeError", err, err)
	}
}

// TestCaptureResentAfter401: after a 401 (a revoked token) the client fetches
// a new token and sends the capture once more with the same body and key; the
// simulator applies it exactly once.
func TestCaptureResentAfter401(t *testing.T) {
	r := newRig(t, sim.Options{}, nil)
	ctx := context.Background()
	ref := r.createAuthorized(ctx, 10000)
	r.sim.RevokeTokens()

	m, err := r.client.CapturePayment(ctx, ref+"-cap", ref, nok(4000))
	if err != nil {
		t.Fatalf("capture after revoke: %v", err)
	}
	if m.Aggregate.CapturedAmount.Value != 4000 {
		t.Errorf("captured %d, want 4000", m.Aggregate.CapturedAmount.Value)
	}
	path := "/epayment/v1/payments/" + ref + "/capture"
	reqs, bodies := r.requests(path), r.requestBodies(path)
	if len(reqs) != 2 {
		t.Fatalf("%d capture requests, want 2 (refused with 401, then resent)", len(reqs))
	}
	if k0, k1 := reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"); k0 != ref+"-cap" || k1 != k0 {
		t.Errorf("Idempotency-Keys %q then %q, want %q both times", k0, k1, ref+"-cap")
	}
	if !bytes.Equal(bodies[0], bodies[1]) || len(bodies[0]) == 0 {
		t.Errorf("bodies differ: %s then %s", bodies[0], bodies[1])
	}
	if a0, a1 := reqs[0].Header.Get("Authorization"), reqs[1].Header.Get("Authorization"); a0 == a1 {
		t.Error("the resent capture carried the revoked token")
	}
	if n := len(r.requests("/accesstoken/get")); n != 2 {
		t.Errorf("%d token calls, want 2", n)
	}
	if got := r.payment(ref).Ops.Capture; got != 1 {
		t.Errorf("simulator applied %d captures, want exactly 1", got)
	}
}
