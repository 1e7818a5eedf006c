package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/spectest"
)

// The test rig: a simulator on a loopback httptest.Server, a clock.Fake, and two
// plain net/http clients. rig.call sends through the OpenAPI validator, so every
// request and answer is checked against specs/; rig.raw sends without
// validating the request, for the deliberately malformed requests of error-path
// tests (their answers are checked by the test itself).

const (
	testMSN      = "123456"
	testSubKey   = "sub-key-primary"
	testClientID = "00000000-0000-0000-0000-000000000001"
	testSecret   = "client-secret-1"
)

var testStart = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

type rig struct {
	t     *testing.T
	sim   *Server
	srv   *httptest.Server
	clock *clock.Fake
	specs *spectest.Specs
	hc    *http.Client // validates requests and answers against the specs
	raw   *http.Client // validates only the answers (see rawCall)
	token string
}

// newRig starts a simulator. Unless opts.Clock is set it runs on a clock.Fake;
// unless opts.App is set the customer app ignores payments, so that tests
// decide when a payment is approved.
func newRig(t *testing.T, opts Options) *rig {
	t.Helper()
	g := &rig{t: t}
	if opts.Clock == nil {
		g.clock = clock.NewFake(testStart)
		opts.Clock = g.clock
	}
	if opts.App.Action == 0 {
		opts.App = AppPolicy{Action: Ignore}
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	g.sim = New(opts)
	g.srv = httptest.NewServer(g.sim)
	t.Cleanup(func() {
		g.srv.Close()
		if err := g.sim.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	g.specs = spectest.Load(t)
	tr := g.specs.Transport(t, g.srv.Client().Transport)
	t.Cleanup(func() { recordCoverage(tr.Coverage()) })
	g.raw = &http.Client{Transport: g.srv.Client().Transport, Timeout: 10 * time.Second}
	g.hc = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	g.token = g.fetchToken()
	return g
}

// sub is g for a subtest: failures go to t.
func (g *rig) sub(t *testing.T) *rig {
	c := *g
	c.t = t
	return &c
}

func (g *rig) fetchToken() string {
	g.t.Helper()
	res := g.send(g.hc, "POST", "/accesstoken/get", nil,
		"client_id", testClientID, "client_secret", testSecret, "Ocp-Apim-Subscription-Key", testSubKey, "Authorization", "-", "Merchant-Serial-Number", "-")
	res.want(http.StatusOK)
	var tr epayment.TokenResponse
	res.decode(&tr)
	return tr.AccessToken
}

// res is an answer.
type res struct {
	t      *testing.T
	Status int
	Header http.Header
	Body   []byte
	Err    error // transport error (connection closed, ...)
}

func (r res) want(status int) res {
	r.t.Helper()
	if r.Err != nil {
		r.t.Fatalf("want %d, got transport error %v", status, r.Err)
	}
	if r.Status != status {
		r.t.Fatalf("want %d, got %d: %s", status, r.Status, r.Body)
	}
	return r
}

func (r res) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

func (r res) problem() epayment.Problem {
	r.t.Helper()
	var p epayment.Problem
	r.decode(&p)
	if p.TraceID == "" || p.Title == "" || p.Status != r.Status || p.Type == "" {
		r.t.Fatalf("not a complete problem (%d): %s", r.Status, r.Body)
	}
	return p
}

// code is the ErrorCode of a problem answer, "" if it has none.
func (r res) code() string {
	r.t.Helper()
	for _, d := range r.problem().ExtraDetails {
		if d.Name == errorCodeExtraDetailName {
			return d.Reason
		}
	}
	return ""
}

// wantError checks an ePayment problem answer: status and error code ("" = none).
func (r res) wantError(status int, code string) epayment.Problem {
	r.t.Helper()
	r.want(status)
	if ct := r.Header.Get("Content-Type"); status != http.StatusUnauthorized && ct != ctProblemJSON && ct != ctJSON {
		r.t.Fatalf("content type %q", ct)
	}
	p := r.problem()
	if got := r.code(); got != code {
		r.t.Fatalf("want error code %q, got %q: %s", code, got, r.Body)
	}
	return p
}

// wantField checks a 400 naming a field, without an error code.
func (r res) wantField(name string) {
	r.t.Helper()
	p := r.wantError(http.StatusBadRequest, "")
	for _, d := range p.ExtraDetails {
		if d.Name == name {
			return
		}
	}
	r.t.Fatalf("400 does not name %q: %s", name, r.Body)
}

// call sends an API request through the validator, with the default headers
// (bearer token, subscription key, MSN). hdr are name/value pairs overriding
// them; the value "-" removes a header.
func (g *rig) call(method, path string, body any, hdr ...string) res {
	g.t.Helper()
	return g.send(g.hc, method, path, body, hdr...)
}

// rawCall is call for a request that breaks the specs on purpose: the request
// is not validated, the answer is.
func (g *rig) rawCall(method, path string, body any, hdr ...string) res {
	g.t.Helper()
	return g.send(g.raw, method, path, body, hdr...)
}

// send sends with c; with the raw client, the answer is validated; with nil,
// nothing is (for rigs built by hand).
func (g *rig) send(c *http.Client, method, path string, body any, hdr ...string) res {
	g.t.Helper()
	validateAnswer := c == g.raw
	if c == nil {
		c = g.raw
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			g.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, g.srv.URL+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Ocp-Apim-Subscription-Key", testSubKey)
	req.Header.Set("Merchant-Serial-Number", testMSN)
	req.Header.Set("Vipps-System-Name", "tillbox")
	req.Header.Set("Vipps-System-Version", "test")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "-" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	var reqBody []byte
	if req.GetBody != nil {
		rc, _ := req.GetBody()
		reqBody, _ = io.ReadAll(rc)
	}
	resp, err := c.Do(req)
	if err != nil {
		return res{t: g.t, Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return res{t: g.t, Err: err}
	}
	if validateAnswer {
		op, err := g.specs.ValidateResponse(req, reqBody, resp.StatusCode, resp.Header, b)
		if err != nil {
			g.t.Errorf("spectest: %v", err)
		}
		if op != "" {
			recordCoverage(map[string][]int{op: {resp.StatusCode}})
		}
	}
	return res{t: g.t, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// coverage collects, over every test, the statuses seen per operation.
var coverage struct {
	sync.Mutex
	seen map[string]map[int]bool
}

func recordCoverage(c map[string][]int) {
	coverage.Lock()
	defer coverage.Unlock()
	if coverage.seen == nil {
		coverage.seen = map[string]map[int]bool{}
	}
	for op, statuses := range c {
		if coverage.seen[op] == nil {
			coverage.seen[op] = map[int]bool{}
		}
		for _, st := range statuses {
			coverage.seen[op][st] = true
		}
	}
}

var keySeq struct {
	sync.Mutex
	n int
}

// newKey returns a fresh Idempotency-Key.
func newKey() string {
	keySeq.Lock()
	defer keySeq.Unlock()
	keySeq.n++
	return fmt.Sprintf("key-%06d", keySeq.n)
}

// createBody is an in-store PUSH_MESSAGE create body.
func createBody(ref string, value int64, customer map[string]any) map[string]any {
	b := map[string]any{
		"amount":              map[string]any{"currency": "NOK", "value": value},
		"paymentMethod":       map[string]any{"type": "WALLET"},
		"reference":           ref,
		"userFlow":            "PUSH_MESSAGE",
		"customerInteraction": "CUSTOMER_PRESENT",
		"paymentDescription":  "Kjøp i butikk",
	}
	if customer != nil {
		b["customer"] = customer
	}
	return b
}

func phone(n string) map[string]any { return map[string]any{"phoneNumber": n} }

// create creates a PUSH payment to 4712345678 and checks it is 201.
func (g *rig) create(ref string, value int64) {
	g.t.Helper()
	g.call("POST", "/epayment/v1/payments", createBody(ref, value, phone("4712345678")), "Idempotency-Key", newKey()).want(http.StatusCreated)
}

func (g *rig) get(ref string) epayment.Payment {
	g.t.Helper()
	var p epayment.Payment
	g.call("GET", "/epayment/v1/payments/"+ref, nil).want(http.StatusOK).decode(&p)
	return p
}

func (g *rig) events(ref string) []epayment.PaymentEvent {
	g.t.Helper()
	var evs []epayment.PaymentEvent
	g.call("GET", "/epayment/v1/payments/"+ref+"/events", nil).want(http.StatusOK).decode(&evs)
	return evs
}

func (g *rig) approve(ref string) {
	g.t.Helper()
	g.call("POST", "/epayment/v1/test/payments/"+ref+"/approve",
		map[string]any{"customer": phone("4712345678")}).want(http.StatusOK)
}

func modBody(value int64) map[string]any {
	return map[string]any{"modificationAmount": map[string]any{"currency": "NOK", "value": value}}
}

func (g *rig) capture(ref, key string, value int64) res {
	g.t.Helper()
	return g.call("POST", "/epayment/v1/payments/"+ref+"/capture", modBody(value), "Idempotency-Key", key)
}

func (g *rig) refund(ref, key string, value int64) res {
	g.t.Helper()
	return g.call("POST", "/epayment/v1/payments/"+ref+"/refund", modBody(value), "Idempotency-Key", key)
}

func (g *rig) cancel(ref, key string, body any) res {
	g.t.Helper()
	hdr := []string{"Idempotency-Key", key}
	if key == "" {
		hdr = nil
	}
	return g.call("POST", "/epayment/v1/payments/"+ref+"/cancel", body, hdr...)
}

func (g *rig) modification(r res) epayment.ModificationResponse {
	g.t.Helper()
	var m epayment.ModificationResponse
	r.want(http.StatusOK).decode(&m)
	return m
}

// info reads the simulator's own record of a payment.
func (g *rig) info(ref string) PaymentInfo {
	g.t.Helper()
	p, ok := g.sim.Payment(testMSN, ref)
	if !ok {
		g.t.Fatalf("no payment %s", ref)
	}
	return p
}

// eventually polls cond (real time) for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func nok(v int64) epayment.Amount { return epayment.Amount{Currency: epayment.NOK, Value: v} }

func wantAggregate(t *testing.T, got epayment.Aggregate, authorized, captured, refunded, cancelled int64) {
	t.Helper()
	want := epayment.Aggregate{
		AuthorizedAmount: nok(authorized), CapturedAmount: nok(captured),
		RefundedAmount: nok(refunded), CancelledAmount: nok(cancelled),
	}
	if got != want {
		t.Fatalf("aggregate = %+v, want %+v", got, want)
	}
}

func eventNames(evs []epayment.PaymentEvent) string {
	var names []string
	for _, e := range evs {
		n := string(e.Name)
		if !e.Success {
			n += "(failed)"
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}
