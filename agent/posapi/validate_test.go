package posapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/device/classify"
)

// TestCreateSaleValidation sends every kind of bad sale: each gets 400 (413,
// 415) naming the field, and nothing is written.
func TestCreateSaleValidation(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	lines := func(amounts ...int) string {
		var ls []string
		for i, a := range amounts {
			ls = append(ls, fmt.Sprintf(`{"name":"item %d","amount":%d,"taxRate":2500}`, i, a))
		}
		return `[` + strings.Join(ls, ",") + `]`
	}
	long := strings.Repeat("x", 101)
	cases := []struct {
		name   string
		body   string
		ct     string
		status int
		field  string
		reason string // a part of the reason
	}{
		{"amount below the minimum", `{"amount":99,"currency":"NOK"}`, "", 400, "amount", "at least 100"},
		{"amount zero", `{"amount":0,"currency":"NOK"}`, "", 400, "amount", "at least"},
		{"amount negative", `{"amount":-100,"currency":"NOK"}`, "", 400, "amount", "at least"},
		{"amount missing", `{"currency":"NOK"}`, "", 400, "amount", "at least"},
		{"amount above the maximum", `{"amount":65000001,"currency":"NOK"}`, "", 400, "amount", "65000000"},
		{"amount float", `{"amount":12.5,"currency":"NOK"}`, "", 400, "amount", "integer"},
		{"amount integral float", `{"amount":1000.0,"currency":"NOK"}`, "", 400, "amount", "integer"},
		{"amount exponent", `{"amount":1e3,"currency":"NOK"}`, "", 400, "amount", "integer"},
		{"amount string", `{"amount":"1000","currency":"NOK"}`, "", 400, "amount", "integer"},
		{"amount huge", `{"amount":99999999999999999999,"currency":"NOK"}`, "", 400, "amount", "too large"},
		{"amount null", `{"amount":null,"currency":"NOK"}`, "", 400, "amount", "null"},
		{"currency of another sales unit", `{"amount":1000,"currency":"DKK"}`, "", 400, "currency", "NOK"},
		{"currency unknown", `{"amount":1000,"currency":"nok"}`, "", 400, "currency", "NOK"},
		{"currency missing", `{"amount":1000}`, "", 400, "currency", "required"},
		{"description too short", `{"amount":1000,"currency":"NOK","description":"ab"}`, "", 400, "description", "3 to 100"},
		{"description too long", `{"amount":1000,"currency":"NOK","description":"` + long + `"}`, "", 400, "description", "3 to 100"},
		{"reference too short", `{"amount":1000,"currency":"NOK","reference":"abc"}`, "", 400, "reference", "8 to 64"},
		{"reference with a space", `{"amount":1000,"currency":"NOK","reference":"abc def ghi"}`, "", 400, "reference", "8 to 64"},
		{"reference too long", `{"amount":1000,"currency":"NOK","reference":"` + strings.Repeat("a", 65) + `"}`, "", 400, "reference", "8 to 64"},
		{"lines not summing", `{"amount":1000,"currency":"NOK","lines":` + lines(400, 500) + `}`, "", 400, "lines", "sum to 900"},
		{"line tax rate", `{"amount":1000,"currency":"NOK","lines":[{"name":"a","amount":1000,"taxRate":10001}]}`, "", 400, "lines[0].taxRate", "10000"},
		{"line without name", `{"amount":1000,"currency":"NOK","lines":[{"name":"","amount":1000}]}`, "", 400, "lines[0].name", "1 to 100"},
		{"line amount float", `{"amount":1000,"currency":"NOK","lines":[{"name":"a","amount":500},{"name":"b","amount":500.5}]}`, "", 400, "lines[1].amount", "integer"},
		{"line unknown field", `{"amount":1000,"currency":"NOK","lines":[{"name":"a","amount":1000,"vat":25}]}`, "", 400, "lines[0].vat", "not a field"},
		{"lines not an array", `{"amount":1000,"currency":"NOK","lines":{}}`, "", 400, "lines", "array"},
		{"both customer fields", `{"amount":1000,"currency":"NOK","customer":{"personalQr":"` + qrCode + `","phoneNumber":"4712345678"}}`, "", 400, "customer", "not both"},
		{"phone number with +", `{"amount":1000,"currency":"NOK","customer":{"phoneNumber":"+4712345678"}}`, "", 400, "customer.phoneNumber", "digits"},
		{"personal QR too short", `{"amount":1000,"currency":"NOK","customer":{"personalQr":"abc"}}`, "", 400, "customer.personalQr", "5 to 255"},
		{"personal QR with a control character", `{"amount":1000,"currency":"NOK","customer":{"personalQr":"abc\u0007def"}}`, "", 400, "customer.personalQr", "printable"},
		{"customer unknown field", `{"amount":1000,"currency":"NOK","customer":{"email":"a@b.no"}}`, "", 400, "customer.email", "not a field"},
		{"customer not an object", `{"amount":1000,"currency":"NOK","customer":"4712345678"}`, "", 400, "customer", "object"},
		{"capture unknown", `{"amount":1000,"currency":"NOK","capture":"later"}`, "", 400, "capture", "auto"},
		{"unknown field", `{"amount":1000,"currency":"NOK","tip":100}`, "", 400, "tip", "not a field"},
		{"field in another case", `{"Amount":1000,"currency":"NOK"}`, "", 400, "Amount", "not a field"},
		{"field twice", `{"amount":100000,"currency":"NOK","amount":100}`, "", 400, "amount", "twice"},
		{"trailing data", `{"amount":1000,"currency":"NOK"} {}`, "", 400, "body", "after the JSON object"},
		{"trailing garbage", `{"amount":1000,"currency":"NOK"}x`, "", 400, "body", "after the JSON object"},
		{"malformed JSON", `{"amount":1000,"currency":"NOK"`, "", 400, "body", "malformed JSON"},
		{"malformed JSON in a field", `{"amount":1000,"currency":"NOK","customer":{"phoneNumber":"4712345678}}`, "", 400, "customer.phoneNumber", "malformed JSON"},
		{"not an object", `[{"amount":1000,"currency":"NOK"}]`, "", 400, "body", "JSON object"},
		{"empty array", `[]`, "", 400, "body", "JSON object"},
		{"null body", `null`, "", 400, "body", "JSON object"},
		{"a string", `"sale"`, "", 400, "body", "JSON object"},
		{"broken JSON", `{"amount":1000,`, "", 400, "body", "malformed JSON"},
		{"not JSON", `amount=1000`, "", 400, "body", "malformed JSON"},
		{"empty body", ``, "", 400, "body", "empty"},
		{"invalid UTF-8", "{\"amount\":1000,\"currency\":\"NOK\",\"description\":\"caf\xe9 au lait\"}", "", 400, "body", "UTF-8"},
		{"wrong content type", `{"amount":1000,"currency":"NOK"}`, "text/plain", 415, "Content-Type", "application/json"},
		{"form content type", `amount=1000&currency=NOK`, "application/x-www-form-urlencoded", 415, "Content-Type", "application/json"},
		{"no content type", `{"amount":1000,"currency":"NOK"}`, "-", 415, "Content-Type", "application/json"},
		{"another charset", `{"amount":1000,"currency":"NOK"}`, "application/json; charset=latin1", 415, "Content-Type", "application/json"},
		{"oversize body", `{"amount":1000,"currency":"NOK","description":"` + strings.Repeat("x", MaxBody) + `"}`, "", 413, "", ""},
	}
	for _, c := range cases {
		a := r.send(call{method: "POST", path: "/api/v1/sales", body: []byte(c.body), ct: c.ct, malformed: true})
		e := a.error(t)
		if a.status != c.status || e.Field != c.field || !strings.Contains(e.Reason+e.Message, c.reason) {
			t.Errorf("%s: %d %+v, want %d naming %q with %q", c.name, a.status, e, c.status, c.field, c.reason)
		}
		if c.status == 400 && (e.Code != codeInvalidRequest || e.Reason == "") {
			t.Errorf("%s: %+v, want invalid_request with a reason", c.name, e)
		}
	}
	// A query parameter on a route that takes none.
	a := r.send(call{method: "POST", path: "/api/v1/sales?dryRun=1", body: jsonOf(t, sale("query-0001", 1000)), malformed: true})
	if e := a.error(t); a.status != http.StatusBadRequest || e.Field != "dryRun" {
		t.Errorf("query parameter: %d %+v", a.status, e)
	}
	r.nothingWritten()

	// The good requests beside them pass: the charset parameter, an exact
	// line sum with a return, a description of exactly 3 and 100
	// characters.
	for _, body := range []string{
		`{"reference":"good-0001","amount":1000,"currency":"NOK","description":"abc","customer":{"phoneNumber":"4712345678"}}`,
		`{"reference":"good-0002","amount":1000,"currency":"NOK","description":"` + long[:100] + `","customer":{"phoneNumber":"4712345678"},` +
			`"lines":[{"name":"a","amount":1200,"taxRate":2500,"quantity":"2","unitPrice":600},{"name":"b","amount":200,"taxRate":2500,"isReturn":true}]}`,
	} {
		a := r.send(call{method: "POST", path: "/api/v1/sales", body: []byte(body), ct: "application/json; charset=utf-8"})
		if a.status != http.StatusCreated {
			t.Errorf("good sale %s: %d %s", body, a.status, a.body)
		}
	}
}

// TestMethodsAndRoutes: unknown routes and methods get JSON errors.
func TestMethodsAndRoutes(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	a := r.send(call{method: "PUT", path: "/api/v1/sales", body: []byte(`{}`)})
	if e := a.error(t); a.status != http.StatusMethodNotAllowed || e.Code != codeMethodNotAllowed || !strings.Contains(a.header.Get("Allow"), "POST") {
		t.Errorf("PUT /api/v1/sales: %d %+v Allow %q", a.status, e, a.header.Get("Allow"))
	}
	b := r.send(call{method: "GET", path: "/api/v1/nothing"})
	if e := b.error(t); b.status != http.StatusNotFound || e.Code != codeNotFound {
		t.Errorf("GET /api/v1/nothing: %d %+v", b.status, e)
	}
	c := r.send(call{method: "DELETE", path: "/api/v1/sales/abcdefgh-1"})
	if e := c.error(t); c.status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE a sale: %d %+v", c.status, e)
	}
	d := r.send(call{method: "GET", path: "/api/v1/sales/abcdefgh-1/cancel"})
	if e := d.error(t); d.status != http.StatusMethodNotAllowed || d.header.Get("Allow") != "POST" {
		t.Errorf("GET a cancel: %d %+v Allow %q", d.status, e, d.header.Get("Allow"))
	}
}

// TestSaleCustomerCodeUsesScanPatterns: a code sent as customer.personalQr
// is judged by the box's configured [[scan.pattern]]s, as a scan is: a
// product barcode, or a code the configuration does not accept, gets 400
// naming the field with the scanner's reason, and nothing is queued for
// Vipps MobilePay.
func TestSaleCustomerCodeUsesScanPatterns(t *testing.T) {
	t.Parallel()
	c := config.Default()
	// Only the tokenised form: the clear-text code the defaults accept is
	// refused too, so the POS follows the configuration, not a copy.
	c.Scan.Patterns = []classify.Pattern{{Name: "tokenised-only", Expr: `^https://qr\.vipps\.no/p/[A-Za-z0-9]{8,}$`}}
	ao, err := c.AgentOptions()
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOptions{noRun: true, agent: agent.Options{CheckScan: ao.CheckScan}})
	for _, code := range []string{"7038010055690", qrCode} {
		body := fmt.Sprintf(`{"reference":"ean-00001","amount":1000,"currency":"NOK","customer":{"personalQr":%q}}`, code)
		a := r.send(call{method: "POST", path: "/api/v1/sales", body: []byte(body)})
		e := a.error(t)
		scan := r.send(call{method: "POST", path: "/api/v1/scans", body: jsonOf(t, ScanRequest{Code: code})})
		se := scan.error(t)
		if a.status != http.StatusBadRequest || e.Field != "customer.personalQr" || !strings.Contains(e.Reason, "not a personal QR code") {
			t.Errorf("sale with customer.personalQr %q: %d %+v, want 400 naming customer.personalQr", code, a.status, e)
		}
		if scan.status != http.StatusBadRequest || se.Reason != e.Reason {
			t.Errorf("scan of %q: %d %+v; the sale's reason %q should be the scan's", code, scan.status, se, e.Reason)
		}
	}
	if !strings.Contains(r.send(call{method: "POST", path: "/api/v1/scans", body: jsonOf(t, ScanRequest{Code: "7038010055690"}), malformed: true}).error(t).Reason, "product barcode") {
		t.Error("an EAN is not refused as a product barcode")
	}
	r.nothingWritten()
	// A code the patterns accept is taken.
	s, created, err := r.client.CreateSale(context.Background(), agent.SaleRequest{Reference: "tok-00001", Amount: 1000, Currency: "NOK",
		Customer: &agent.Customer{PersonalQR: "https://qr.vipps.no/p/Lm3Vb8Qw1Zx6Pd0K"}})
	if err != nil || !created || s.State != agent.Queued {
		t.Fatalf("sale with an accepted code: %+v %v", s, err)
	}
}

// TestBodyErrorsNameTheBody: on every route that takes a body, a body that
// is wrong as a whole (null, an array, broken JSON) gets the 400 the
// document promises, with field "body" and a reason, and changes nothing.
func TestBodyErrorsNameTheBody(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	for _, path := range []string{"/api/v1/sales", "/api/v1/sales/body-0001/cancel", "/api/v1/sales/body-0001/capture",
		"/api/v1/sales/body-0001/refund", "/api/v1/scans"} {
		for _, body := range []string{`null`, `[]`, `[{}]`, `{"amount":`, `{`, `}`, `true`, `12`, `{} {}`} {
			a := r.send(call{method: "POST", path: path, body: []byte(body), malformed: true})
			e := a.error(t)
			if a.status != http.StatusBadRequest || e.Code != codeInvalidRequest || e.Field == "" || e.Reason == "" {
				t.Errorf("POST %s %s: %d %+v, want 400 invalid_request with field and reason", path, body, a.status, e)
			}
			if body != `{"amount":` && e.Field != "body" {
				t.Errorf("POST %s %s: field %q, want body", path, body, e.Field)
			}
		}
	}
	r.nothingWritten()
}
