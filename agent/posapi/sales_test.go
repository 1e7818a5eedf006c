package posapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/classify"
)

// TestCreateSaleRepeatAndConflict: a sale is taken (201), the same request
// again answers the same sale (200), the same reference with another
// amount is a conflict (409); a sale without a reference gets one.
func TestCreateSaleRepeatAndConflict(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	req := sale("pos-0001-abcd", 49900)

	a := r.send(call{method: "POST", path: "/api/v1/sales", body: jsonOf(t, req)})
	if a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	s := decode[agent.Sale](t, a)
	if s.Reference != req.Reference || s.Amount != 49900 || s.Currency != "NOK" || s.Customer == nil || s.Customer.Type != "personalQr" {
		t.Errorf("created %+v", s)
	}
	if got := a.header.Get("Location"); got != "/api/v1/sales/pos-0001-abcd" {
		t.Errorf("Location %q", got)
	}
	if strings.Contains(string(a.body), "4712345678") {
		t.Errorf("the answer shows the customer's code: %s", a.body)
	}

	again := r.send(call{method: "POST", path: "/api/v1/sales", body: jsonOf(t, req)})
	if again.status != http.StatusOK {
		t.Fatalf("repeat: %d %s", again.status, again.body)
	}
	if s2 := decode[agent.Sale](t, again); s2.Reference != s.Reference || !s2.CreatedAt.Equal(s.CreatedAt) {
		t.Errorf("repeat answered another sale: %+v", s2)
	}

	other := req
	other.Amount = 50000
	c := r.send(call{method: "POST", path: "/api/v1/sales", body: jsonOf(t, other)})
	if e := c.error(t); c.status != http.StatusConflict || e.Code != codeConflict {
		t.Errorf("conflict: %d %+v", c.status, e)
	}

	gen, created, err := r.client.CreateSale(context.Background(), agent.SaleRequest{Amount: 100, Currency: "NOK",
		Customer: &agent.Customer{PhoneNumber: "4712345678"}})
	if err != nil || !created {
		t.Fatalf("generated reference: %v (created %v)", err, created)
	}
	if !regexp.MustCompile(`^tb-till1-\d+$`).MatchString(gen.Reference) || gen.Description == "" {
		t.Errorf("generated sale %+v", gen)
	}
	if gen.Customer == nil || gen.Customer.Masked != "+47 ••• •• 678" {
		t.Errorf("customer %+v, want masked phone", gen.Customer)
	}
	r.waitState(req.Reference, agent.Completed)
}

// TestAutoCaptureAndRefund: a sale goes through to completed with the
// amount captured; refunds are queued (202), safe to repeat with a
// refundId, and checked against what is left.
func TestAutoCaptureAndRefund(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	if _, _, err := r.client.CreateSale(ctx, sale("refund-0001", 49900)); err != nil {
		t.Fatal(err)
	}
	s := r.waitState("refund-0001", agent.Completed)
	if s.Aggregate.Captured != 49900 || !s.Outcome {
		t.Fatalf("completed sale %+v", s)
	}

	a := r.send(call{method: "POST", path: "/api/v1/sales/refund-0001/refund", body: []byte(`{"amount":10000,"refundId":"ret-1"}`)})
	if a.status != http.StatusAccepted {
		t.Fatalf("refund: %d %s", a.status, a.body)
	}
	if a.header.Get("Location") != "/api/v1/sales/refund-0001" {
		t.Errorf("Location %q", a.header.Get("Location"))
	}
	// The same refund again is harmless; the same id with another amount is not.
	if _, err := r.client.RefundSale(ctx, "refund-0001", 10000, "ret-1"); err != nil {
		t.Errorf("repeated refund: %v", err)
	}
	b := r.send(call{method: "POST", path: "/api/v1/sales/refund-0001/refund", body: []byte(`{"amount":20000,"refundId":"ret-1"}`)})
	if e := b.error(t); b.status != http.StatusBadRequest || e.Field != "refundId" {
		t.Errorf("refund id reused: %d %+v", b.status, e)
	}
	c := r.send(call{method: "POST", path: "/api/v1/sales/refund-0001/refund", body: []byte(`{"amount":40000}`)})
	if e := c.error(t); c.status != http.StatusBadRequest || e.Field != "amount" ||
		e.Reason != "at most 39 900 can be refunded (captured 49 900, refunded 10 000)" {
		t.Errorf("refund of more than is left: %d %+v", c.status, e)
	}
	// Part refunded: told apart from all refunded.
	s = r.waitFor("refund-0001", func(s agent.Sale) bool { return s.Aggregate.Refunded == 10000 })
	if s.State != agent.PartiallyRefunded || !s.Outcome {
		t.Errorf("after a refund of 10 000 of 49 900: %s (outcome %v), want partially_refunded", s.State, s.Outcome)
	}
	// A refund without an amount refunds what is left.
	d := r.send(call{method: "POST", path: "/api/v1/sales/refund-0001/refund", body: []byte(`{"refundId":"ret-2"}`)})
	if d.status != http.StatusAccepted {
		t.Fatalf("refund of what is left: %d %s", d.status, d.body)
	}
	// Repeated, without an amount as the first time: the same refund.
	if _, err := r.client.RefundSale(ctx, "refund-0001", 0, "ret-2"); err != nil {
		t.Errorf("repeated refund of what is left: %v", err)
	}
	s = r.waitFor("refund-0001", func(s agent.Sale) bool { return s.Aggregate.Refunded == 49900 })
	if s.State != agent.Refunded || !s.Outcome {
		t.Errorf("after refunding all: %s (outcome %v), want refunded", s.State, s.Outcome)
	}
	if p, ok := r.sim.Payment("", "refund-0001"); !ok || p.Aggregate.RefundedAmount.Value != 49900 {
		t.Errorf("refunded at Vipps MobilePay: %+v", p.Aggregate)
	}
	// Nothing is left: the state says so, and no error reads "1 to 0".
	for _, body := range []string{``, `{"amount":1}`} {
		e := r.send(call{method: "POST", path: "/api/v1/sales/refund-0001/refund", body: []byte(body)})
		if ee := e.error(t); e.status != http.StatusConflict || ee.Code != codeWrongState ||
			!strings.Contains(ee.Message, "nothing is left to refund (captured 49 900, refunded 49 900)") {
			t.Errorf("refund %q of a refunded sale: %d %+v", body, e.status, ee)
		}
	}
}

// waitFor waits until the sale satisfies ok.
func (r *rig) waitFor(ref string, ok func(agent.Sale) bool) agent.Sale {
	r.t.Helper()
	var s agent.Sale
	agenttest.Until(r.t, "sale "+ref+" to change", func() bool {
		var err error
		if s, err = r.client.GetSale(context.Background(), ref); err != nil {
			r.t.Fatal(err)
		}
		return ok(s)
	})
	return s
}

// TestManualCapture: a sale with manual capture stops at authorized; the POS
// captures part, then the rest; one more capture is in the wrong state.
func TestManualCapture(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	req := sale("manual-0001", 49900)
	req.Capture = "manual"
	if _, _, err := r.client.CreateSale(ctx, req); err != nil {
		t.Fatal(err)
	}
	if s := r.waitState("manual-0001", agent.Authorized); !s.ManualCapture || s.Aggregate.Authorized != 49900 {
		t.Fatalf("authorised sale %+v", s)
	}
	for _, c := range []struct {
		body, field string
	}{
		{`{"amount":0}`, "amount"},
		{`{"amount":-5}`, "amount"},
		{`{"amount":100.5}`, "amount"},
		{`{"amount":60000}`, "amount"}, // more than authorised: the agent's check
	} {
		a := r.send(call{method: "POST", path: "/api/v1/sales/manual-0001/capture", body: []byte(c.body), malformed: true})
		if e := a.error(t); a.status != http.StatusBadRequest || e.Field != c.field {
			t.Errorf("capture %s: %d %+v", c.body, a.status, e)
		}
	}
	// What can be captured, in words: not "must be 1 to N".
	big := r.send(call{method: "POST", path: "/api/v1/sales/manual-0001/capture", body: []byte(`{"amount":60000}`)})
	if e := big.error(t); e.Reason != "at most 49 900 can be captured (authorised 49 900, captured 0)" {
		t.Errorf("capture of more than authorised: %+v", e)
	}
	a := r.send(call{method: "POST", path: "/api/v1/sales/manual-0001/capture", body: []byte(`{"amount":10000}`)})
	if a.status != http.StatusAccepted {
		t.Fatalf("capture: %d %s", a.status, a.body)
	}
	agenttest.Until(t, "10 000 of manual-0001 captured", func() bool {
		s, err := r.client.GetSale(ctx, "manual-0001")
		return err == nil && s.Aggregate.Captured == 10000 && s.State == agent.Authorized
	})
	// No body: all that is left.
	if a := r.send(call{method: "POST", path: "/api/v1/sales/manual-0001/capture"}); a.status != http.StatusAccepted {
		t.Fatalf("capture the rest: %d %s", a.status, a.body)
	}
	if s := r.waitState("manual-0001", agent.Completed); s.Aggregate.Captured != 49900 {
		t.Fatalf("completed %+v", s)
	}
	_, err := r.client.CaptureSale(ctx, "manual-0001", 0)
	if !errors.Is(err, agent.ErrWrongState) {
		t.Errorf("capture of a completed sale: %v", err)
	}
}

// TestCancel: a sale waiting for a scan is cancelled at once; a sale the
// customer is looking at is cancelled through Vipps MobilePay; a cancelled
// sale cannot be cancelled again.
func TestCancel(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{sim: simIgnore()})
	ctx := context.Background()
	if _, _, err := r.client.CreateSale(ctx, agent.SaleRequest{Reference: "cancel-0001", Amount: 1000, Currency: "NOK"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body   string
		ct     string
		status int
		field  string
	}{
		{`{"why":"x"}`, "", 400, "why"},
		{`{}`, "text/plain", 415, "Content-Type"},
		{`{}}`, "", 400, "body"},
		{`null`, "", 400, "body"},
	} {
		a := r.send(call{method: "POST", path: "/api/v1/sales/cancel-0001/cancel", body: []byte(c.body), ct: c.ct, malformed: true})
		if e := a.error(t); a.status != c.status || e.Field != c.field {
			t.Errorf("cancel with %s (%s): %d %+v", c.body, c.ct, a.status, e)
		}
	}
	a := r.send(call{method: "POST", path: "/api/v1/sales/cancel-0001/cancel", body: []byte(`{}`)})
	if s := decode[agent.Sale](t, a); a.status != http.StatusAccepted || s.State != agent.Cancelled || !s.Outcome {
		t.Fatalf("cancel: %d %s", a.status, a.body)
	}
	// The till lost the answer and cancels again: harmless, the sale as it
	// stands, nothing queued.
	for range 2 {
		again := r.send(call{method: "POST", path: "/api/v1/sales/cancel-0001/cancel"})
		if s := decode[agent.Sale](t, again); again.status != http.StatusOK || s.State != agent.Cancelled || !s.Outcome ||
			again.header.Get("Location") != "/api/v1/sales/cancel-0001" {
			t.Errorf("cancel repeated: %d %s", again.status, again.body)
		}
	}
	if s, err := r.client.CancelSale(ctx, "cancel-0001"); err != nil || s.State != agent.Cancelled {
		t.Errorf("cancel repeated through the client: %+v %v", s, err)
	}
	if a := r.send(call{method: "POST", path: "/api/v1/sales/nosuchsale/cancel"}); a.status != http.StatusNotFound || a.error(t).Code != codeNotFound {
		t.Errorf("cancel of no sale: %d %s", a.status, a.body)
	}

	// The customer ignores the push: cancel it at Vipps MobilePay.
	if _, _, err := r.client.CreateSale(ctx, sale("cancel-0002", 2000)); err != nil {
		t.Fatal(err)
	}
	r.waitState("cancel-0002", agent.AwaitingApproval)
	if _, err := r.client.CancelSale(ctx, "cancel-0002"); err != nil {
		t.Fatal(err)
	}
	r.waitState("cancel-0002", agent.Cancelled)
	if st, err := r.agent.Status(); err != nil || st.Queued != 0 {
		t.Errorf("after the cancel: %+v %v", st, err)
	}
	// Repeated after it took effect at Vipps MobilePay: 200, nothing sent.
	ops := func() int { p, _ := r.sim.Payment("", "cancel-0002"); return p.Ops.Cancel }
	before := ops()
	again := r.send(call{method: "POST", path: "/api/v1/sales/cancel-0002/cancel"})
	if s := decode[agent.Sale](t, again); again.status != http.StatusOK || s.State != agent.Cancelled {
		t.Errorf("cancel repeated after it took effect: %d %s", again.status, again.body)
	}
	if st, err := r.agent.Status(); err != nil || st.Queued != 0 || ops() != before {
		t.Errorf("a repeated cancel queued or sent something: %+v %v, cancels at Vipps %d then %d", st, err, before, ops())
	}
}

// TestCancelCapturedSale: a captured sale cannot be cancelled, and the
// answer says to refund it, unlike a repeated cancel.
func TestCancelCapturedSale(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	if _, _, err := r.client.CreateSale(context.Background(), sale("cancel-paid-1", 1000)); err != nil {
		t.Fatal(err)
	}
	r.waitState("cancel-paid-1", agent.Completed)
	a := r.send(call{method: "POST", path: "/api/v1/sales/cancel-paid-1/cancel"})
	if e := a.error(t); a.status != http.StatusConflict || e.Code != codeWrongState || !strings.Contains(e.Message, "captured: refund instead") {
		t.Errorf("cancel of a captured sale: %d %+v", a.status, e)
	}
}

// TestGetAndList pages through sales and refuses bad references and
// parameters.
func TestGetAndList(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	ctx := context.Background()
	for i := range 3 {
		req := agent.SaleRequest{Reference: fmt.Sprintf("list-%04d", i), Amount: 100 + int64(i), Currency: "NOK",
			Customer: &agent.Customer{PhoneNumber: "4712345678"}}
		if _, _, err := r.client.CreateSale(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	p1, err := r.client.ListSales(ctx, "", 2)
	if err != nil || len(p1.Sales) != 2 || p1.Next != "list-0001" {
		t.Fatalf("page 1: %+v %v", p1, err)
	}
	p2, err := r.client.ListSales(ctx, p1.Next, 2)
	if err != nil || len(p2.Sales) != 1 || p2.Sales[0].Reference != "list-0002" || p2.Next != "" {
		t.Fatalf("page 2: %+v %v", p2, err)
	}
	if all, err := r.client.ListSales(ctx, "", 0); err != nil || len(all.Sales) != 3 {
		t.Fatalf("all: %+v %v", all, err)
	}
	if empty, err := r.client.ListSales(ctx, "list-0002", 0); err != nil || empty.Sales == nil || len(empty.Sales) != 0 {
		t.Fatalf("after the last: %+v %v", empty, err)
	}
	s, err := r.client.GetSale(ctx, "list-0001")
	if err != nil || s.Amount != 101 || s.State != agent.Queued {
		t.Fatalf("get: %+v %v", s, err)
	}
	if _, err := r.client.GetSale(ctx, "list-9999"); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("get of no sale: %v", err)
	}
	for _, c := range []struct{ path, field string }{
		{"/api/v1/sales/short", "reference"},
		{"/api/v1/sales/has_underscore", "reference"},
		{"/api/v1/sales/list-0001?x=1", "x"},
		{"/api/v1/sales?limit=0", "limit"},
		{"/api/v1/sales?limit=1001", "limit"},
		{"/api/v1/sales?limit=ten", "limit"},
		{"/api/v1/sales?after=bad!", "after"},
		{"/api/v1/sales?after=list-0001&after=list-0002", "after"},
		{"/api/v1/sales?sort=desc", "sort"},
	} {
		a := r.send(call{method: "GET", path: c.path, malformed: true})
		if e := a.error(t); a.status != http.StatusBadRequest || e.Field != c.field {
			t.Errorf("GET %s: %d %+v, want 400 naming %s", c.path, a.status, e, c.field)
		}
	}
}

// TestRefundAndCaptureWrongState: a sale that is not captured cannot be
// refunded, one that is not authorised cannot be captured.
func TestRefundAndCaptureWrongState(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	ctx := context.Background()
	if _, _, err := r.client.CreateSale(ctx, sale("state-0001", 1000)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []call{
		{method: "POST", path: "/api/v1/sales/state-0001/refund", body: []byte(`{"amount":100}`)},
		{method: "POST", path: "/api/v1/sales/state-0001/refund"},
		{method: "POST", path: "/api/v1/sales/state-0001/capture", body: []byte(`{}`)},
	} {
		a := r.send(c)
		if e := a.error(t); a.status != http.StatusConflict || e.Code != codeWrongState {
			t.Errorf("%s: %d %+v", c.path, a.status, e)
		}
	}
	for _, c := range []call{
		{method: "POST", path: "/api/v1/sales/state-0001/refund", body: []byte(`{"amount":0}`), malformed: true},
		{method: "POST", path: "/api/v1/sales/state-0001/refund", body: []byte(`{"amount":"100"}`), malformed: true},
		{method: "POST", path: "/api/v1/sales/state-0001/refund", body: []byte(`{"amount":100,"refundId":"no spaces"}`), malformed: true},
	} {
		if a := r.send(c); a.status != http.StatusBadRequest {
			t.Errorf("refund %s: %d %s", c.body, a.status, a.body)
		}
	}
	big := fmt.Sprintf(`{"amount":100,"refundId":"%s"}`, strings.Repeat("a", MaxBody))
	if a := r.send(call{method: "POST", path: "/api/v1/sales/state-0001/refund", body: []byte(big), malformed: true}); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize refund: %d %s", a.status, a.body)
	}
}

// TestQueueFull: at the cap of queued commands a new sale gets 503 with
// Retry-After, and nothing is written.
func TestQueueFull(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true, agent: agent.Options{MaxQueued: 1}})
	ctx := context.Background()
	if _, _, err := r.client.CreateSale(ctx, sale("queue-0001", 1000)); err != nil {
		t.Fatal(err)
	}
	a := r.send(call{method: "POST", path: "/api/v1/sales", body: jsonOf(t, sale("queue-0002", 1000))})
	if e := a.error(t); a.status != http.StatusServiceUnavailable || e.Code != codeQueueFull || a.header.Get("Retry-After") != "30" {
		t.Fatalf("queue full: %d %+v Retry-After %q", a.status, e, a.header.Get("Retry-After"))
	}
	_, _, err := r.client.CreateSale(ctx, sale("queue-0002", 1000))
	var ce *Error
	if !errors.As(err, &ce) || !errors.Is(err, agent.ErrQueueFull) || ce.RetryAfter != 30*time.Second {
		t.Errorf("client error %#v", err)
	}
	if _, err := r.client.GetSale(ctx, "queue-0002"); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("the refused sale was written: %v", err)
	}
}

// TestShuttingDown: once the agent stops taking sales (SIGTERM), a new
// sale gets 503 shutting_down with Retry-After and nothing is written; a
// sale already taken can still be read and cancelled.
func TestShuttingDown(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	ctx := context.Background()
	if _, _, err := r.client.CreateSale(ctx, sale("stop-0001", 1000)); err != nil {
		t.Fatal(err)
	}
	r.agent.StopSales()
	a := r.send(call{method: "POST", path: "/api/v1/sales", body: jsonOf(t, sale("stop-0002", 1000))})
	if e := a.error(t); a.status != http.StatusServiceUnavailable || e.Code != codeShuttingDown || a.header.Get("Retry-After") != "5" {
		t.Fatalf("shutting down: %d %+v Retry-After %q", a.status, e, a.header.Get("Retry-After"))
	}
	_, _, err := r.client.CreateSale(ctx, sale("stop-0002", 1000))
	var ce *Error
	if !errors.As(err, &ce) || !errors.Is(err, agent.ErrStopping) || ce.RetryAfter != 5*time.Second {
		t.Errorf("client error %#v", err)
	}
	if _, err := r.client.GetSale(ctx, "stop-0002"); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("the refused sale was written: %v", err)
	}
	if s, err := r.client.CancelSale(ctx, "stop-0001"); err != nil || s.State != agent.Cancelled {
		t.Errorf("cancel while shutting down: %+v, %v", s, err)
	}
}

// TestBusyAndScans: one sale at a time waits for a scan; a scan binds to it,
// or is held for the next sale, and is refused while a customer pays.
func TestBusyAndScans(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	ctx := context.Background()

	// Scan first: held, then taken by the next sale.
	a := r.send(call{method: "POST", path: "/api/v1/scans", body: jsonOf(t, ScanRequest{Code: qrCode})})
	if res := decode[agent.ScanResult](t, a); a.status != http.StatusOK || res.Outcome != "held" {
		t.Fatalf("scan: %d %s", a.status, a.body)
	}
	if st, err := r.client.Status(ctx); err != nil || !st.ScanWaiting {
		t.Fatalf("status after a scan: %+v %v", st, err)
	}
	s, _, err := r.client.CreateSale(ctx, agent.SaleRequest{Reference: "scan-0001", Amount: 1000, Currency: "NOK"})
	if err != nil || s.State != agent.Queued || s.Customer == nil || s.Customer.Type != "personalQr" {
		t.Fatalf("sale after a scan: %+v %v", s, err)
	}
	// A customer is paying: the next scan is refused.
	b := r.send(call{method: "POST", path: "/api/v1/scans", body: jsonOf(t, ScanRequest{Code: qrCode})})
	if e := b.error(t); b.status != http.StatusConflict || e.Code != codePaymentPending {
		t.Fatalf("scan while paying: %d %+v", b.status, e)
	}
	if _, err := r.client.CancelSale(ctx, "scan-0001"); err != nil {
		t.Fatal(err)
	}

	// Sale first: it waits, a second one is refused, the scan binds.
	if _, _, err := r.client.CreateSale(ctx, agent.SaleRequest{Reference: "scan-0002", Amount: 1000, Currency: "NOK"}); err != nil {
		t.Fatal(err)
	}
	c := r.send(call{method: "POST", path: "/api/v1/sales", body: jsonOf(t, agent.SaleRequest{Reference: "scan-0003", Amount: 1000, Currency: "NOK"})})
	if e := c.error(t); c.status != http.StatusConflict || e.Code != codeBusy || !strings.Contains(e.Message, "scan-0002") {
		t.Fatalf("second waiting sale: %d %+v", c.status, e)
	}
	res, err := r.client.Scan(ctx, qrCode)
	if err != nil || res.Outcome != "bound" || res.Reference != "scan-0002" {
		t.Fatalf("scan to a waiting sale: %+v %v", res, err)
	}

	for _, body := range []string{`{"code":"abc"}`, `{"code":""}`, `{}`, `{"code":12345}`, `{"code":"` + qrCode + `","x":1}`} {
		a := r.send(call{method: "POST", path: "/api/v1/scans", body: []byte(body), malformed: true})
		if e := a.error(t); a.status != http.StatusBadRequest || e.Field == "" {
			t.Errorf("scan %s: %d %+v", body, a.status, e)
		}
	}
}

// TestStatus reports the queue against its caps.
func TestStatus(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true, agent: agent.Options{MaxQueued: 5}})
	ctx := context.Background()
	if _, _, err := r.client.CreateSale(ctx, sale("status-0001", 1000)); err != nil {
		t.Fatal(err)
	}
	st, err := r.client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != 1 || st.MaxQueued != 5 || st.QueueFull || st.Unfinished != 1 || st.LastSeq != 1 || st.OldestQueued.IsZero() {
		t.Errorf("status %+v", st)
	}
	if a := r.send(call{method: "GET", path: "/api/v1/status?verbose=1", malformed: true}); a.status != http.StatusBadRequest {
		t.Errorf("status with a parameter: %d", a.status)
	}
}

// TestInternalErrorLeaksNothing: an error of the store is a generic 500 to
// the POS and the detail goes to the log.
func TestInternalErrorLeaksNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	if err := r.db.Close(); err != nil {
		t.Fatal(err)
	}
	a := r.send(call{method: "GET", path: "/api/v1/sales/internal-0001"})
	e := a.error(t)
	if a.status != http.StatusInternalServerError || e.Code != codeInternal || e.Message != "internal error: see the box's log" {
		t.Fatalf("%d %+v", a.status, e)
	}
	if !strings.Contains(r.logs.String(), "POS API: internal error") {
		t.Errorf("the detail is not logged:\n%s", r.logs.String())
	}
}

// TestStatusScanners: with WithScanners, the status lists the scanners'
// states as the document describes them.
func TestStatusScanners(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	scanners := []device.Status{
		{Name: "front", Driver: "hid", Match: "0c2e:0b61:K1", Mode: "keyboard, no", Connected: true, Path: "0001:0004:00",
			Product: "Voyager 1450g", Manufacturer: "Honeywell", VIDPID: "0c2e:0b61", SerialNumber: "K1", Since: at,
			Scans: 3, LastScanAt: at, LastScan: "https://qr.vipps.no/28/2/01/031/•••••••678?v=1", Reconnects: 2},
		{Name: "hand", Driver: "hid", Match: "05e0:1200", Mode: "auto, us",
			LastError: "this tillbox was built without cgo: USB HID scanners cannot be read; use a build with cgo (make build)", LastErrorAt: at},
	}
	r := newRig(t, rigOptions{noRun: true, server: func(s *server) { WithScanners(func() []device.Status { return scanners })(s) }})
	a := r.send(call{method: "GET", path: "/api/v1/status"})
	if a.status != http.StatusOK {
		t.Fatalf("status %d %s", a.status, a.body)
	}
	var got struct {
		Online   *bool           `json:"online"`
		Scanners []device.Status `json:"scanners"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Online == nil || len(got.Scanners) != 2 || got.Scanners[0] != scanners[0] || got.Scanners[1] != scanners[1] {
		t.Errorf("status %s", a.body)
	}
	// No scanners configured: an empty list, not null.
	r2 := newRig(t, rigOptions{noRun: true, server: func(s *server) { WithScanners(func() []device.Status { return nil })(s) }})
	if a := r2.send(call{method: "GET", path: "/api/v1/status"}); !bytes.Contains(a.body, []byte(`"scanners":[]`)) {
		t.Errorf("status %s", a.body)
	}
}

// TestStatusTLS: over TLS the status names the certificate's fingerprint,
// for a POS to pin; over plain HTTP it says nothing of TLS.
func TestStatusTLS(t *testing.T) {
	t.Parallel()
	const fp = "3A:7F:0C:9B:12:44:AE:5D:60:81:C2:DF:19:E4:07:B3:58:6A:9D:F0:21:CC:43:8E:B7:05:6F:92:DA:11:E8:4C"
	r := newRig(t, rigOptions{noRun: true, server: func(s *server) { WithTLSFingerprint(fp)(s) }})
	a := r.send(call{method: "GET", path: "/api/v1/status"})
	var got struct {
		TLS *TLSStatus `json:"tls"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil || a.status != http.StatusOK || got.TLS == nil || got.TLS.Fingerprint != fp {
		t.Errorf("status %d %s (%v)", a.status, a.body, err)
	}
	r2 := newRig(t, rigOptions{noRun: true})
	if a := r2.send(call{method: "GET", path: "/api/v1/status"}); bytes.Contains(a.body, []byte(`"tls"`)) || bytes.Contains(a.body, []byte(`"scanners"`)) {
		t.Errorf("plain status %s", a.body)
	}
}

// TestPhoneMaskedAsDisplayed: a sale's customer typed as a phone number is
// masked as the customer display masks the same number scanned from a
// clear-text code; an Icelandic number keeps its three-digit country code
// (it was "+35 ••• •• 567": issue 12).
func TestPhoneMaskedAsDisplayed(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	display := classify.Default()
	for i, tc := range []struct{ msisdn, want string }{
		{"3541234567", "+354 •••• 567"},
		{"4712345678", "+47 ••• •• 678"},
		{"4512345678", "+45 ••••• 678"},
		{"46701234567", "+46 •••••• 567"},
		{"358401234567", "+358 •••••• 567"},
	} {
		req := agent.SaleRequest{Reference: fmt.Sprintf("phone-mask-%d", i), Amount: 100, Currency: "NOK",
			Customer: &agent.Customer{PhoneNumber: tc.msisdn}}
		a := r.send(call{method: "POST", path: "/api/v1/sales", body: jsonOf(t, req)})
		if a.status != http.StatusCreated {
			t.Fatalf("create: %d %s", a.status, a.body)
		}
		s := decode[agent.Sale](t, a)
		if s.Customer == nil || s.Customer.Masked != tc.want {
			t.Errorf("%s: the POS API shows %+v, want %q", tc.msisdn, s.Customer, tc.want)
		}
		if shown := display.Recognised("https://qr.vipps.no/28/2/01/031/" + tc.msisdn + "?v=1"); s.Customer != nil && s.Customer.Masked != shown {
			t.Errorf("%s: the POS API shows %q, the display %q", tc.msisdn, s.Customer.Masked, shown)
		}
		if strings.Contains(string(a.body), tc.msisdn) {
			t.Errorf("the answer shows the phone number: %s", a.body)
		}
	}
}
