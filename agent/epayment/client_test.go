package epayment_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/epayment/spectest"
)

const (
	testSecret = "cs-7f3e9b1d-SECRET-value"
	testSubKey = "sk-0b5d8e2a-SUBSCRIPTION"
	testMSN    = "123456"
	// testClientID is a GUID, as the business portal gives.
	testClientID = "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"
	vippsQR      = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"
)

// rig is the simulator on loopback, a recorder of every request it gets, and
// a client whose traffic is validated against the official specs.
type rig struct {
	t      *testing.T
	sim    *sim.Server
	srv    *httptest.Server
	client *epayment.Client
	specs  *spectest.Transport
	logs   *bytes.Buffer

	mu     sync.Mutex
	reqs   []*http.Request          // headers of every request the simulator got
	bodies [][]byte                 // their bodies, in the same order
	delays map[string]time.Duration // real time to wait before serving a path
	now    time.Time                // the client's clock
}

func newRig(t *testing.T, opts sim.Options, edit func(*epayment.Config)) *rig {
	t.Helper()
	r := &rig{t: t, logs: &bytes.Buffer{}, now: time.Now(), delays: map[string]time.Duration{}}
	if opts.App.Delay == 0 && opts.App.Action == 0 {
		opts.App = sim.AppPolicy{Action: sim.Ignore}
	}
	r.sim = sim.New(opts)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Clone(context.Background()))
		r.bodies = append(r.bodies, body)
		delay := r.delays[req.URL.Path]
		r.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		r.sim.ServeHTTP(w, req)
	}))
	t.Cleanup(func() { r.srv.Close(); r.sim.Close() })
	r.specs = spectest.Load(t).Transport(t, http.DefaultTransport)
	cfg := epayment.Config{
		BaseURL: r.srv.URL, ClientID: testClientID, ClientSecret: testSecret, SubscriptionKey: testSubKey, MSN: testMSN,
		HTTPClient: &http.Client{Transport: r.specs, Timeout: 10 * time.Second},
		Logger:     slog.New(slog.NewTextHandler(&lockedWriter{w: r.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:        r.clock,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := epayment.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.client = c
	return r
}

func (r *rig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

// requests returns the recorded requests whose path starts with prefix.
func (r *rig) requests(prefix string) []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*http.Request
	for _, q := range r.reqs {
		if strings.HasPrefix(q.URL.Path, prefix) {
			out = append(out, q)
		}
	}
	return out
}

// requestBodies returns the bodies of the recorded requests whose path
// starts with prefix.
func (r *rig) requestBodies(prefix string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for i, q := range r.reqs {
		if strings.HasPrefix(q.URL.Path, prefix) {
			out = append(out, r.bodies[i])
		}
	}
	return out
}

// delay makes the rig wait d (real time) before the simulator serves path.
func (r *rig) delay(path string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delays[path] = d
}

func (r *rig) payment(ref string) sim.PaymentInfo {
	r.t.Helper()
	for _, p := range r.sim.Payments() {
		if p.Reference == ref {
			return p
		}
	}
	r.t.Fatalf("simulator holds no payment %s", ref)
	return sim.PaymentInfo{}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var refSeq atomic.Int64

func newRef() string { return fmt.Sprintf("tb-test-%06d", refSeq.Add(1)) }

func pushRequest(ref string, value int64) *epayment.CreatePaymentRequest {
	return &epayment.CreatePaymentRequest{
		Amount:              epayment.Amount{Currency: epayment.NOK, Value: value},
		Customer:            &epayment.Customer{PersonalQR: vippsQR},
		CustomerInteraction: epayment.CustomerPresent,
		PaymentMethod:       epayment.PaymentMethod{Type: "WALLET"},
		Reference:           ref,
		UserFlow:            epayment.FlowPushMessage,
		PaymentDescription:  "Kjøp i butikk",
	}
}

func nok(v int64) epayment.Amount { return epayment.Amount{Currency: epayment.NOK, Value: v} }

func receipt(total int64) *epayment.Receipt {
	rate := int64(2500)
	return &epayment.Receipt{
		OrderLines: []epayment.OrderLine{{Name: "Sokker", ID: "line-1", TotalAmount: total,
			TotalAmountExcludingTax: total * 4 / 5, TotalTaxAmount: total - total*4/5, TaxRate: &rate,
			UnitInfo: &epayment.UnitInfo{UnitPrice: total / 2, Quantity: "2", QuantityUnit: "PCS"}}},
		BottomLine: epayment.BottomLine{Currency: epayment.NOK, PosID: "till-1", ReceiptNumber: "42"},
	}
}

// createAuthorized creates a payment and approves it as its customer would.
func (r *rig) createAuthorized(ctx context.Context, value int64) string {
	r.t.Helper()
	ref := newRef()
	if _, err := r.client.CreatePayment(ctx, ref+"-c", pushRequest(ref, value)); err != nil {
		r.t.Fatal(err)
	}
	if err := r.client.ForceApprove(ctx, ref, &epayment.ForceApproveRequest{Customer: &epayment.Customer{PhoneNumber: "4712345678"}}); err != nil {
		r.t.Fatal(err)
	}
	return ref
}

// TestWholeInStoreFlow takes a payment through every ePayment operation and
// the other APIs, with every request and answer checked against the specs.
func TestWholeInStoreFlow(t *testing.T) {
	r := newRig(t, sim.Options{}, nil)
	ctx := context.Background()
	c := r.client

	x, err := c.ExchangeQR(ctx, vippsQR)
	if err != nil {
		t.Fatal(err)
	}
	if x.MSISDN != "4712345678" {
		t.Errorf("exchange msisdn = %s", x.MSISDN)
	}

	ref := newRef()
	req := pushRequest(ref, 49900)
	req.Receipt = receipt(49900)
	cr, err := c.CreatePayment(ctx, ref+"-create", req)
	if err != nil {
		t.Fatal(err)
	}
	if cr.Reference != ref || cr.RedirectURL != "" {
		t.Errorf("create answer = %+v, want the reference and no redirectUrl for PUSH_MESSAGE", cr)
	}
	p, err := c.GetPayment(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if p.State != epayment.StateCreated || p.Amount != nok(49900) || p.Aggregate.AuthorizedAmount.Value != 0 {
		t.Fatalf("after create: %+v", p)
	}
	if err := c.ForceApprove(ctx, ref, &epayment.ForceApproveRequest{Customer: &epayment.Customer{PhoneNumber: "4712345678"}}); err != nil {
		t.Fatal(err)
	}
	if p, err = c.GetPayment(ctx, ref); err != nil || p.State != epayment.StateAuthorized || p.Aggregate.AuthorizedAmount.Value != 49900 {
		t.Fatalf("after approve: %+v, %v", p, err)
	}

	m, err := c.CapturePayment(ctx, ref+"-cap1", ref, nok(20000))
	if err != nil {
		t.Fatal(err)
	}
	if m.Aggregate.CapturedAmount.Value != 20000 || m.State != epayment.StateAuthorized {
		t.Fatalf("partial capture: %+v", m)
	}
	if m, err = c.CapturePayment(ctx, ref+"-cap2", ref, nok(29900)); err != nil || m.Aggregate.CapturedAmount.Value != 49900 {
		t.Fatalf("second capture: %+v, %v", m, err)
	}
	if m, err = c.RefundPayment(ctx, ref+"-ref1", ref, nok(5000)); err != nil || m.Aggregate.RefundedAmount.Value != 5000 {
		t.Fatalf("refund: %+v, %v", m, err)
	}
	events, err := c.PaymentEvents(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	var names []epayment.EventName
	for _, e := range events {
		names = append(names, e.Name)
	}
	want := []epayment.EventName{epayment.EventCreated, epayment.EventAuthorized, epayment.EventCaptured, epayment.EventCaptured, epayment.EventRefunded}
	if !slices.Equal(names, want) {
		t.Errorf("event log = %v, want %v", names, want)
	}
	if events[2].IdempotencyKey == nil || *events[2].IdempotencyKey != ref+"-cap1" {
		t.Errorf("capture event idempotencyKey = %v", events[2].IdempotencyKey)
	}

	// Cancel: before authorisation it terminates; after, it releases the rest.
	ref2 := newRef()
	if _, err := c.CreatePayment(ctx, ref2+"-c", pushRequest(ref2, 1000)); err != nil {
		t.Fatal(err)
	}
	if m, err = c.CancelPayment(ctx, ref2+"-x", ref2, true); err != nil || m.State != epayment.StateTerminated || m.Aggregate.CancelledAmount.Value != 1000 {
		t.Fatalf("cancel before authorisation: %+v, %v", m, err)
	}
	ref3 := r.createAuthorized(ctx, 3000)
	if _, err := c.CapturePayment(ctx, ref3+"-cap", ref3, nok(1000)); err != nil {
		t.Fatal(err)
	}
	if m, err = c.CancelPayment(ctx, "", ref3, false); err != nil || m.State != epayment.StateAuthorized || m.Aggregate.CancelledAmount.Value != 2000 {
		t.Fatalf("cancel after partial capture: %+v, %v", m, err)
	}

	// Order Management: the receipt sent inside createPayment is the order's
	// receipt, and is immutable; another order gets its receipt afterwards.
	if err := c.AddReceipt(ctx, epayment.PaymentTypeECOM, ref, receipt(49900)); !epayment.IsConflict(err) {
		t.Errorf("second receipt for %s: %v, want 409", ref, err)
	}
	if err := c.AddReceipt(ctx, epayment.PaymentTypeECOM, ref3, receipt(3000)); err != nil {
		t.Fatal(err)
	}
	if o, err := c.GetOrder(ctx, epayment.PaymentTypeECOM, ref3); err != nil || o.Receipt == nil || o.Receipt.OrderLines[0].TotalAmount != 3000 {
		t.Errorf("order %s = %+v, %v", ref3, o, err)
	}
	if err := c.SetCategory(ctx, epayment.PaymentTypeECOM, ref, &epayment.Category{Category: epayment.CategoryReceipt, OrderDetailsURL: "https://example.com/r/1"}); err != nil {
		t.Fatal(err)
	}
	o, err := c.GetOrder(ctx, epayment.PaymentTypeECOM, ref)
	if err != nil {
		t.Fatal(err)
	}
	if o.Category == nil || o.Category.Category != epayment.CategoryReceipt || o.Receipt == nil || len(o.Receipt.OrderLines) != 1 {
		t.Errorf("order = %+v", o)
	}

	// Webhooks: register, list, delete.
	hook, err := c.RegisterWebhook(ctx, "https://example.com/hook", []string{epayment.WebhookEventType(epayment.EventAuthorized)})
	if err != nil {
		t.Fatal(err)
	}
	if hook.ID == "" || hook.Secret == "" {
		t.Fatalf("register answer = %+v", hook)
	}
	list, err := c.ListWebhooks(ctx)
	if err != nil || len(list) != 1 || list[0].ID != hook.ID {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if err := c.DeleteWebhook(ctx, hook.ID); err != nil {
		t.Fatal(err)
	}
	if list, err = c.ListWebhooks(ctx); err != nil || len(list) != 0 {
		t.Fatalf("after delete: %+v, %v", list, err)
	}

	// Nothing lost or doubled on the simulator's side.
	got := r.payment(ref)
	if got.Ops.Create != 1 || got.Ops.Capture != 2 || got.Ops.Refund != 1 || got.Ops.Cancel != 0 {
		t.Errorf("simulator ops = %+v", got.Ops)
	}

	cov := r.specs.Coverage()
	for _, op := range []string{"createPayment", "getPayment", "getPaymentEventLog", "cancelPayment", "capturePayment",
		"refundPayment", "forceApprove", "exchangeQr", "post-receipt-v2", "put-category-v2", "get-order-v2",
		"fetchAuthorizationTokenUsingPost", "POST /webhooks/v1/webhooks", "GET /webhooks/v1/webhooks",
		"DELETE /webhooks/v1/webhooks/{id}"} {
		if len(cov[op]) == 0 {
			t.Errorf("operation %s was never validated against the spec (coverage %v)", op, cov)
		}
	}
}

// TestHeaders checks what every call sends (FACTS.md §2).
func TestHeaders(t *testing.T) {
	r := newRig(t, sim.Options{}, func(c *epayment.Config) { c.SystemVersion = "1.2.3" })
	ctx := context.Background()
	ref := r.createAuthorized(ctx, 1000)
	if _, err := r.client.GetPayment(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.CapturePayment(ctx, "cap-key-1", ref, nok(600)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.RefundPayment(ctx, "ref-key-1", ref, nok(500)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.CancelPayment(ctx, "cancel-key-1", ref, false); err != nil {
		t.Fatal(err)
	}

	all := r.requests("/")
	if len(all) < 6 {
		t.Fatalf("only %d requests recorded", len(all))
	}
	for _, q := range all {
		h := q.Header
		for name, want := range map[string]string{
			"Vipps-System-Name": "tillbox", "Vipps-System-Version": "1.2.3",
			"Vipps-System-Plugin-Name": "tillbox", "Vipps-System-Plugin-Version": "1.2.3",
			"Ocp-Apim-Subscription-Key": testSubKey, "Merchant-Serial-Number": testMSN,
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s %s: %s = %q, want %q", q.Method, q.URL.Path, name, got, want)
			}
		}
		if q.URL.Path == "/accesstoken/get" {
			if h.Get("client_id") != testClientID || h.Get("client_secret") != testSecret || h.Get("Authorization") != "" {
				t.Errorf("token call headers wrong: client_id=%q auth=%q", h.Get("client_id"), h.Get("Authorization"))
			}
			continue
		}
		if !strings.HasPrefix(h.Get("Authorization"), "Bearer ") || h.Get("client_secret") != "" {
			t.Errorf("%s %s: no bearer token, or the client secret sent to an API call", q.Method, q.URL.Path)
		}
		wantKey := map[string]string{
			"/capture": "cap-key-1", "/refund": "ref-key-1", "/cancel": "cancel-key-1",
		}
		key := h.Get("Idempotency-Key")
		switch {
		case q.Method == http.MethodGet && key != "":
			t.Errorf("GET %s sent Idempotency-Key %q", q.URL.Path, key)
		case q.URL.Path == "/epayment/v1/payments" && key != ref+"-c":
			t.Errorf("create sent Idempotency-Key %q, want the caller's %q", key, ref+"-c")
		}
		for suffix, want := range wantKey {
			if strings.HasSuffix(q.URL.Path, suffix) && !strings.Contains(q.URL.Path, "/test/") && key != want {
				t.Errorf("%s sent Idempotency-Key %q, want %q", q.URL.Path, key, want)
			}
		}
	}
}

// TestClientNeverInventsKeys: no key, no request.
func TestClientNeverInventsKeys(t *testing.T) {
	r := newRig(t, sim.Options{}, nil)
	ctx := context.Background()
	if _, err := r.client.CreatePayment(ctx, "", pushRequest(newRef(), 1000)); err == nil {
		t.Error("create without a key was sent")
	}
	if _, err := r.client.CapturePayment(ctx, "", "tb-test-nokey", nok(100)); err == nil {
		t.Error("capture without a key was sent")
	}
	if _, err := r.client.RefundPayment(ctx, strings.Repeat("k", 51), "tb-test-nokey", nok(100)); err == nil {
		t.Error("refund with a 51-character key was sent")
	}
	if n := len(r.requests("/epayment")); n != 0 {
		t.Errorf("%d ePayment requests reached the simulator", n)
	}
}

// TestLostResponseRetriedWithSameKey: the capture is applied but its answer
// lost; the retry with the same key must not capture twice.
func TestLostResponseRetriedWithSameKey(t *testing.T) {
	r := newRig(t, sim.Options{}, nil)
	ctx := context.Background()
	ref := r.createAuthorized(ctx, 10000)
	// Lost for good while the first call lasts: net/http itself resends a
	// request with an Idempotency-Key once on a reused connection (safe: same
	// key), so the caller sees the loss only when both attempts are lost.
	r.sim.SetFault(sim.Fault{Endpoint: "capturePayment", Lost: 1})
	_, err := r.client.CapturePayment(ctx, ref+"-cap", ref, nok(10000))
	r.sim.ClearFaults()
	var te *epayment.TransportError
	if !errors.As(err, &te) || !epayment.OutcomeUnknown(err) || !epayment.IsRetryable(err) {
		t.Fatalf("lost answer gave %T %v; want a retryable TransportError with unknown outcome", err, err)
	}
	if got := r.payment(ref).Ops.Capture; got != 1 {
		t.Fatalf("simulator applied %d captures before the retry, want 1 (the lost one)", got)
	}
	m, err := r.client.CapturePayment(ctx, ref+"-cap", ref, nok(10000))
	if err != nil {
		t.Fatalf("retry with the same key: %v", err)
	}
	if m.Aggregate.CapturedAmount.Value != 10000 {
		t.Errorf("captured %d", m.Aggregate.CapturedAmount.Value)
	}
	if got := r.payment(ref).Ops.Capture; got != 1 {
		t.Errorf("simulator applied %d captures, want exactly 1", got)
	}
	keys := map[string]int{}
	for _, q := range r.requests("/epayment/v1/payments/" + ref + "/capture") {
		keys[q.Header.Get("Idempotency-Key")]++
	}
	if len(keys) != 1 || keys[ref+"-cap"] < 2 {
		t.Errorf("capture keys sent = %v, want the same key every time", keys)
	}
}

// TestTokenCachedAndSharedRefresh: with no token cached yet and a slow token
// endpoint, 40 concurrent calls share one token call; later calls reuse the
// token until shortly before expiry.
func TestTokenCachedAndSharedRefresh(t *testing.T) {
	r := newRig(t, sim.Options{TokenLifetime: time.Hour}, nil)
	ctx := context.Background()
	// Slow enough that every caller arrives while the first refresh runs.
	r.delay("/accesstoken/get", 50*time.Millisecond)

	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() {
			<-start
			if _, err := r.client.ListWebhooks(ctx); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(r.requests("/accesstoken/get")); n != 1 {
		t.Fatalf("%d token calls, want 1 shared by every caller", n)
	}
	if n := len(r.requests("/webhooks/v1/webhooks")); n != 40 {
		t.Fatalf("%d calls reached the API, want 40", n)
	}
	r.delay("/accesstoken/get", 0)

	ref := r.createAuthorized(ctx, 1000)
	r.advance(50 * time.Minute) // still within the hour minus the margin
	if _, err := r.client.GetPayment(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n := len(r.requests("/accesstoken/get")); n != 1 {
		t.Fatalf("%d token calls after 50 min, want the cached token", n)
	}
	r.advance(6 * time.Minute) // 56 min: inside the refresh margin
	if _, err := r.client.GetPayment(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n := len(r.requests("/accesstoken/get")); n != 2 {
		t.Fatalf("%d token calls, want a refresh shortly before expiry", n)
	}
}

// TestRefreshAfter401Once: a revoked token is replaced once; bad credentials
// are not retried in a loop.
func TestRefreshAfter401Once(t *testing.T) {
	r := newRig(t, sim.Options{}, nil)
	ctx := context.Background()
	ref := r.createAuthorized(ctx, 1000)
	resp, err := http.Post(r.srv.URL+"/sim/tokens/revoke", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := r.client.GetPayment(ctx, ref); err != nil {
		t.Fatalf("after revoke: %v", err)
	}
	if n := len(r.requests("/accesstoken/get")); n != 2 {
		t.Errorf("%d token calls, want 2 (first, then one refresh after the 401)", n)
	}

	bad := newRig(t, sim.Options{ClientSecret: "the-right-secret"}, nil)
	_, err = bad.client.GetPayment(ctx, "tb-test-unknown")
	if epayment.StatusCode(err) != http.StatusUnauthorized || !epayment.IsAuth(err) || epayment.IsPermanent(err) || epayment.IsRetryable(err) {
		t.Fatalf("wrong secret gave %v, want a 401 that IsAuth (not permanent, not retryable)", err)
	}
	if n := len(bad.requests("/accesstoken/get")); n != 1 {
		t.Errorf("%d token calls for one failed call, want 1", n)
	}
}

// TestTypedErrors checks each class of error the sale state machine branches on.
func TestTypedErrors(t *testing.T) {
	r := newRig(t, sim.Options{}, nil)
	ctx := context.Background()
	c := r.client

	ref := newRef()
	if _, err := c.CreatePayment(ctx, ref+"-c", pushRequest(ref, 1000)); err != nil {
		t.Fatal(err)
	}
	_, err := c.CapturePayment(ctx, ref+"-cap", ref, nok(1000))
	var ae *epayment.Error
	if !errors.As(err, &ae) || ae.Code != "6080" || ae.StatusCode != 400 || ae.TraceID == "" || !epayment.IsPermanent(err) || epayment.IsRetryable(err) {
		t.Fatalf("capture before authorisation: %#v", err)
	}
	if !strings.Contains(err.Error(), "6080") || !strings.Contains(err.Error(), "traceId") {
		t.Errorf("error text lacks code or traceId: %v", err)
	}

	// Same reference, new key: the reference exists.
	_, err = c.CreatePayment(ctx, ref+"-c2", pushRequest(ref, 1000))
	if !epayment.IsConflict(err) || epayment.ErrorCode(err) != "4150" {
		t.Errorf("reused reference: %v", err)
	}
	// Same key, other body: 409.
	_, err = c.CreatePayment(ctx, ref+"-c", pushRequest(ref, 2000))
	if !epayment.IsConflict(err) || epayment.IsPermanent(err) || epayment.IsRetryable(err) {
		t.Errorf("same key, other body: %v; want a 409 conflict", err)
	}

	// Not a personal QR code.
	bad := pushRequest(newRef(), 1000)
	bad.Customer = &epayment.Customer{PersonalQR: "7038010055607"}
	if _, err = c.CreatePayment(ctx, bad.Reference+"-c", bad); epayment.ErrorCode(err) != "4060" {
		t.Errorf("EAN-13 as personal QR: %v; want code 4060", err)
	}

	// Unknown payment.
	if _, err = c.GetPayment(ctx, "tb-test-no-such"); epayment.StatusCode(err) != 404 || !epayment.IsPermanent(err) {
		t.Errorf("unknown reference: %v", err)
	}

	// 5xx and 429 are retryable; 429 says how long to wait.
	r.sim.SetFault(sim.Fault{Endpoint: "getPayment", Status5xx: 1, Count: 1})
	if _, err = c.GetPayment(ctx, ref); epayment.StatusCode(err) < 500 || !epayment.IsRetryable(err) || !epayment.OutcomeUnknown(err) {
		t.Errorf("5xx: %v", err)
	}
	r.sim.SetFault(sim.Fault{Endpoint: "getPayment", TooMany: 1, Count: 1})
	if _, err = c.GetPayment(ctx, ref); epayment.StatusCode(err) != 429 || !epayment.IsRetryable(err) || epayment.RetryAfter(err) <= 0 {
		t.Errorf("429: %v (retry after %v)", err, epayment.RetryAfter(err))
	}
	// The real rate limit: 5 modifications a minute per reference.
	limited := r.createAuthorized(ctx, 10000)
	var last error
	for i := range 6 {
		_, last = c.CapturePayment(ctx, fmt.Sprintf("%s-k%d", limited, i), limited, nok(100))
	}
	if epayment.StatusCode(last) != 429 || epayment.RetryAfter(last) <= 0 {
		t.Errorf("6th capture in a minute: %v", last)
	}

	// A dropped connection.
	r.sim.SetFault(sim.Fault{Endpoint: "getPayment", Drop: 1})
	if _, err = c.GetPayment(ctx, ref); !epayment.IsRetryable(err) || !epayment.OutcomeUnknown(err) {
		t.Errorf("dropped connection: %v", err)
	}
	r.sim.ClearFaults()

	// Order Management's own error shape: a receipt is immutable.
	if err = c.AddReceipt(ctx, epayment.PaymentTypeECOM, ref, receipt(1000)); err != nil {
		t.Fatal(err)
	}
	err = c.AddReceipt(ctx, epayment.PaymentTypeECOM, ref, receipt(1000))
	if !errors.As(err, &ae) || ae.StatusCode != 409 || ae.Title == "" {
		t.Errorf("second receipt: %#v", err)
	}
	// A receipt without lines breaks the spec, so send it past the validator.
	raw, err := epayment.New(epayment.Config{BaseURL: r.srv.URL, ClientID: testClientID, ClientSecret: "s", SubscriptionKey: "k", MSN: testMSN})
	if err != nil {
		t.Fatal(err)
	}
	if err = raw.AddReceipt(ctx, epayment.PaymentTypeECOM, newRef(), &epayment.Receipt{OrderLines: []epayment.OrderLine{}, BottomLine: epayment.BottomLine{Currency: "NOK"}}); !errors.As(err, &ae) || ae.StatusCode != 400 || len(ae.InvalidParams) == 0 {
		t.Errorf("receipt without lines: %#v", err)
	}

	// A context that ends is not a reason to retry.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err = c.GetPayment(cctx, ref); err == nil || epayment.IsRetryable(err) {
		t.Errorf("cancelled context: %v", err)
	}
}

// TestSecretsNeverLeak: neither errors, nor logs, nor a printed Config show a
// client secret, a subscription key or an access token.
func TestSecretsNeverLeak(t *testing.T) {
	r := newRig(t, sim.Options{}, nil)
	ctx := context.Background()
	var errs []error
	ref := r.createAuthorized(ctx, 1000)
	_, err := r.client.CapturePayment(ctx, ref+"-x", ref, nok(999999))
	errs = append(errs, err)
	_, err = r.client.GetPayment(ctx, "tb-test-missing")
	errs = append(errs, err)
	r.sim.SetFault(sim.Fault{Endpoint: "*", Drop: 1})
	_, err = r.client.GetPayment(ctx, ref)
	errs = append(errs, err)
	r.sim.ClearFaults()

	wrong := newRig(t, sim.Options{ClientSecret: "another", SubscriptionKey: "another"}, nil)
	_, err = wrong.client.GetPayment(ctx, ref)
	errs = append(errs, err)

	// Nothing listens here: a network error.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	down := newRig(t, sim.Options{}, func(c *epayment.Config) { c.BaseURL = "http://" + addr })
	_, err = down.client.GetPayment(ctx, ref)
	errs = append(errs, err)

	// A webhook registration: its secret is the key to every delivery.
	hook, err := r.client.RegisterWebhook(ctx, "https://example.com/hook", []string{epayment.WebhookEventType(epayment.EventCaptured)})
	if err != nil {
		t.Fatal(err)
	}
	if len(hook.Secret.Reveal()) < 32 {
		t.Fatalf("webhook secret %d characters: the test would prove nothing", len(hook.Secret.Reveal()))
	}
	hookJSON, _ := json.Marshal(hook)
	var hookLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&hookLog, nil)).Info("registered", "hook", hook, "secret", hook.Secret)
	slog.New(slog.NewTextHandler(&hookLog, nil)).Info("registered", "hook", hook, "secret", hook.Secret)

	var tokens []string
	for _, q := range r.requests("/epayment") {
		tokens = append(tokens, strings.TrimPrefix(q.Header.Get("Authorization"), "Bearer "))
	}
	if len(tokens) == 0 || tokens[0] == "" {
		t.Fatal("no access token seen")
	}
	secrets := []string{testSecret, testSubKey, tokens[0], hook.Secret.Reveal()}
	cfg := epayment.Config{ClientID: "id", ClientSecret: testSecret, SubscriptionKey: testSubKey}
	cfgJSON, _ := json.Marshal(map[string]any{"clientSecret": cfg.ClientSecret, "subscriptionKey": cfg.SubscriptionKey})
	texts := []string{r.logs.String(), wrong.logs.String(), down.logs.String(),
		fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfgJSON),
		fmt.Sprintf("%v %+v %#v %s %v", hook, hook, hook, hookJSON, *hook), hookLog.String()}
	for _, e := range errs {
		if e == nil {
			t.Fatal("a call that should fail succeeded")
		}
		texts = append(texts, e.Error(), fmt.Sprintf("%#v", e))
	}
	if !strings.Contains(r.logs.String(), "vipps call") {
		t.Fatal("debug log is empty: the test would prove nothing")
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("a secret leaked into: %.300s", text)
			}
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	ok := epayment.Config{BaseURL: epayment.TestBaseURL, ClientID: testClientID, ClientSecret: "s", SubscriptionKey: "k", MSN: "123456"}
	if _, err := epayment.New(ok); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for name, edit := range map[string]func(*epayment.Config){
		"no base URL":      func(c *epayment.Config) { c.BaseURL = "" },
		"ftp base URL":     func(c *epayment.Config) { c.BaseURL = "ftp://api.vipps.no" },
		"http remote host": func(c *epayment.Config) { c.BaseURL = "http://example.com" },
		"http vipps host":  func(c *epayment.Config) { c.BaseURL = "http://api.vipps.no" },
		"http LAN address": func(c *epayment.Config) { c.BaseURL = "http://192.168.1.10:8080" },
		"user info":        func(c *epayment.Config) { c.BaseURL = "https://u:p@api.vipps.no" },
		"no client id":     func(c *epayment.Config) { c.ClientID = "" },
		"no secret":        func(c *epayment.Config) { c.ClientSecret = "" },
		"no key":           func(c *epayment.Config) { c.SubscriptionKey = "" },
		"short MSN":        func(c *epayment.Config) { c.MSN = "123" },
		"letters in MSN":   func(c *epayment.Config) { c.MSN = "12ab56" },
		"long plugin":      func(c *epayment.Config) { c.PluginName = strings.Repeat("p", 31) },
		"long sys version": func(c *epayment.Config) { c.SystemVersion = strings.Repeat("1", 31) },
	} {
		cfg := ok
		edit(&cfg)
		if _, err := epayment.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cfg := ok
	cfg.BaseURL = "http://example.com"
	if _, err := epayment.New(cfg); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("http://example.com: %v; want an error that asks for https", err)
	}
	for _, base := range []string{"http://127.0.0.1:8080", "http://127.1.2.3", "http://[::1]:9000/", "http://localhost:8080", "https://apitest.vipps.no/"} {
		cfg.BaseURL = base
		if _, err := epayment.New(cfg); err != nil {
			t.Errorf("%s refused: %v", base, err)
		}
	}
}

// TestRedirectsNotFollowed: a redirect, even to another loopback server, is
// an *Error; the credentials never reach the other host.
func TestRedirectsNotFollowed(t *testing.T) {
	var mu sync.Mutex
	var leaked []http.Header
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"token_type":"Bearer","expires_in":"3600","access_token":"tok"}`))
	}))
	defer other.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()

	follow := func(*http.Request, []*http.Request) error { return nil }
	for name, hc := range map[string]*http.Client{
		"default client": nil,
		"caller's client with its own CheckRedirect": {CheckRedirect: follow},
	} {
		c, err := epayment.New(epayment.Config{BaseURL: redirector.URL, ClientID: testClientID, ClientSecret: testSecret,
			SubscriptionKey: testSubKey, MSN: testMSN, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetPayment(context.Background(), "tb-test-redirect")
		var ae *epayment.Error
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusTemporaryRedirect || ae.Op != "accessToken" {
			t.Errorf("%s: redirect gave %T %v; want a 307 *Error of the token call", name, err, err)
		}
		if err != nil && (strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), testSubKey)) {
			t.Errorf("%s: a secret in the error: %v", name, err)
		}
		if hc != nil && reflect.ValueOf(hc.CheckRedirect).Pointer() != reflect.ValueOf(follow).Pointer() {
			t.Errorf("%s: New changed the caller's http.Client", name)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Errorf("the other host got %d requests, client_secret %q", len(leaked), leaked[0].Get("client_secret"))
	}
}

// TestAccessToken: headquarters' broker gets the cached token with its
// expiry; a token a box saw refused is replaced, a valid one is shared.
func TestAccessToken(t *testing.T) {
	r := newRig(t, sim.Options{TokenLifetime: time.Hour}, nil)
	ctx := context.Background()
	tok, exp, err := r.client.AccessToken(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if tok == "" || exp.Sub(r.clock()) < 59*time.Minute || exp.Sub(r.clock()) > time.Hour {
		t.Fatalf("token %d chars, expires in %v, want an hour", len(tok), exp.Sub(r.clock()))
	}
	again, exp2, err := r.client.AccessToken(ctx, "")
	if err != nil || again != tok || !exp2.Equal(exp) {
		t.Fatalf("a second ask: same token %v, expiry %v (%v), want the cached one", again == tok, exp2, err)
	}
	if n := len(r.requests("/accesstoken/get")); n != 1 {
		t.Fatalf("%d token calls, want 1", n)
	}
	fresh, _, err := r.client.AccessToken(ctx, tok)
	if err != nil || fresh == tok {
		t.Fatalf("after a refusal: new token %v (%v)", fresh != tok, err)
	}
	if n := len(r.requests("/accesstoken/get")); n != 2 {
		t.Fatalf("%d token calls, want 2", n)
	}
	if same, _, _ := r.client.AccessToken(ctx, tok); same != fresh {
		t.Fatal("a refusal of the old token again dropped the new one")
	}
}
