package epayment

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		" 60 ":                          time.Minute,
		"-3":                            0,
		"soon":                          0,
		"Mon, 23 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Mon, 23 Nov 2026 11:59:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	apiErr := func(status int, code string) error {
		return fmt.Errorf("wrapped: %w", &Error{Op: "capturePayment", Method: "POST", Path: "/x", StatusCode: status, Code: code})
	}
	netErr := &TransportError{Op: "getPayment", Err: errors.New("connection reset by peer")}
	for _, c := range []struct {
		name                                          string
		err                                           error
		retryable, conflict, permanent, auth, unknown bool
	}{
		{"307", apiErr(307, ""), false, false, false, false, false},
		{"400", apiErr(400, ""), false, false, true, false, false},
		{"400 6080", apiErr(400, "6080"), false, false, true, false, false},
		{"400 6160 order processing", apiErr(400, "6160"), true, false, false, false, false},
		{"400 6280", apiErr(400, "6280"), true, false, false, false, false},
		{"401", apiErr(401, ""), false, false, false, true, false},
		{"403", apiErr(403, ""), false, false, false, true, false},
		{"403 5080", apiErr(403, "5080"), false, false, false, true, false},
		{"404", apiErr(404, "5090"), false, false, true, false, false},
		{"409", apiErr(409, "4010"), false, true, false, false, false},
		{"409 6160 order processing", apiErr(409, "6160"), true, false, false, false, false},
		{"409 6280", apiErr(409, "6280"), true, false, false, false, false},
		{"422", apiErr(422, "5070"), false, false, true, false, false},
		{"423", apiErr(423, "6160"), true, false, false, false, false},
		{"429", apiErr(429, ""), true, false, false, false, false},
		{"500", apiErr(500, ""), true, false, false, false, true},
		{"503", apiErr(503, ""), true, false, false, false, true},
		{"network", netErr, true, false, false, false, true},
		{"http.Client timeout", &TransportError{Op: "capturePayment", Err: fmt.Errorf("timeout: %w", context.DeadlineExceeded)}, true, false, false, false, true},
		{"caller cancelled", &TransportError{Op: "getPayment", Err: context.Canceled, Canceled: true}, false, false, false, false, true},
		{"caller deadline", &TransportError{Op: "getPayment", Err: context.DeadlineExceeded, Canceled: true}, false, false, false, false, true},
		{"unreadable 2xx", fmt.Errorf("wrapped: %w", &DecodeError{Op: "capturePayment", StatusCode: 200, Err: errors.New("bad json")}), true, false, false, false, true},
		{"other", errors.New("boom"), false, false, false, false, false},
		{"nil", nil, false, false, false, false, false},
	} {
		if got := IsRetryable(c.err); got != c.retryable {
			t.Errorf("%s: IsRetryable = %v", c.name, got)
		}
		if got := IsConflict(c.err); got != c.conflict {
			t.Errorf("%s: IsConflict = %v", c.name, got)
		}
		if got := IsPermanent(c.err); got != c.permanent {
			t.Errorf("%s: IsPermanent = %v", c.name, got)
		}
		if got := IsAuth(c.err); got != c.auth {
			t.Errorf("%s: IsAuth = %v", c.name, got)
		}
		if got := OutcomeUnknown(c.err); got != c.unknown {
			t.Errorf("%s: OutcomeUnknown = %v", c.name, got)
		}
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Op: "capturePayment", Method: http.MethodPost, Path: "/epayment/v1/payments/abc-12345/capture", StatusCode: 400,
		Title: "Bad Request", Detail: "Cannot capture a payment that is not authorized", TraceID: "t-1", Code: "6080",
		ExtraDetails: []ExtraDetail{{Name: "ErrorCode", Reason: "6080"}}}
	want := "vipps capturePayment: POST /epayment/v1/payments/abc-12345/capture: 400 code 6080 Bad Request: Cannot capture a payment that is not authorized (traceId t-1)"
	if got := e.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	om := &Error{Op: "addReceipt", Method: http.MethodPost, Path: "/order-management/v2/ECOM/receipts/x", StatusCode: 400,
		Title: "One or more validation errors occurred.", InvalidParams: []InvalidParam{{Name: "OrderLines", Reason: "required"}}}
	if got := om.Error(); got != "vipps addReceipt: POST /order-management/v2/ECOM/receipts/x: 400 One or more validation errors occurred.; OrderLines: required" {
		t.Errorf("OM error text: %s", got)
	}
}

// FuzzAPIError: whatever a server answers outside 2xx, the client turns it
// into an *Error with the status, never panics, and the text stays one
// bounded line.
func FuzzAPIError(f *testing.F) {
	f.Add(400, "application/problem+json", `{"type":"https://x","title":"Bad Request","status":400,"traceId":"t","extraDetails":[{"name":"ErrorCode","reason":"6080"}]}`, "")
	f.Add(409, "application/json", `{"title":"Conflict","invalidParams":[{"name":"a","reason":"b"}]}`, "")
	f.Add(429, "application/problem+json; charset=utf-8", `{"extraDetails":null}`, "12")
	f.Add(502, "text/html", "<html>bad gateway</html>", "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(500, "application/json", `[1,2`, "x")
	f.Fuzz(func(t *testing.T, status int, ctype, body, retryAfter string) {
		if status < 300 || status > 599 {
			return
		}
		c := &Client{now: time.Now}
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		resp.Header.Set("Content-Type", ctype)
		resp.Header.Set("Retry-After", retryAfter)
		for _, a := range []api{apiEPayment, apiOrderManagement} {
			e := c.apiError(call{op: "getPayment", method: "GET", path: "/p", api: a}, resp, []byte(body))
			if e.StatusCode != status || e.RetryAfter < 0 {
				t.Fatalf("error %+v for status %d", e, status)
			}
			_ = e.Error()
		}
	})
}
