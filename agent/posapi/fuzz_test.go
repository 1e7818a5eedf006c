package posapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/store"
)

// FuzzCreateSale feeds arbitrary bodies to POST /api/v1/sales: the handler
// never panics, never answers 5xx, and answers only what openapi.yaml
// declares; a 400 names a reason. Interesting inputs are kept in
// testdata/fuzz/FuzzCreateSale.
func FuzzCreateSale(f *testing.F) {
	for _, seed := range []string{
		`{"amount":49900,"currency":"NOK","customer":{"personalQr":"` + qrCode + `"}}`,
		`{"reference":"fuzz-0001","amount":100,"currency":"NOK","description":"abc","customer":{"phoneNumber":"4712345678"},"capture":"manual"}`,
		`{"amount":1000,"currency":"NOK","lines":[{"name":"a","amount":600,"taxRate":2500},{"name":"b","amount":400,"quantity":"0.5","unitPrice":800}]}`,
		`{"amount":12.5,"currency":"NOK"}`,
		`{"amount":1e2,"currency":"NOK"}`,
		`{"amount":-0,"currency":"NOK"}`,
		`{"amount":1000,"currency":"NOK","lines":[{"name":"a","amount":1000,"isReturn":null}]}`,
		`{"amount":1000,"currency":"NOK"}{}`,
		`{"amount":1000,"currency":"NOK","amount":1}`,
		`{"customer":{"personalQr":"\u0000\u0000\u0000\u0000\u0000"},"amount":100,"currency":"NOK"}`,
		`{"lines":[[[[[[]]]]]]}`,
		`[`,
		`"`,
		`{"a`,
		"\xff\xfe{}",
		`{"amount":18446744073709551616,"currency":"NOK"}`,
		`null`,
		`[]`,
		`{"amount":0,"":""}`,
	} {
		f.Add([]byte(seed))
	}
	r := newRig(f, rigOptions{noRun: true, store: store.Options{NoSync: true}, agent: agent.Options{MaxQueued: 1 << 30}})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequestWithContext(withMalformed(context.Background()), http.MethodPost, "http://127.0.0.1/api/v1/sales", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+r.token.Reveal())
		rec := httptest.NewRecorder()
		r.api.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%d for %q: %s", rec.Code, body, rec.Body)
		}
		if err := r.spec.check(req, body, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("openapi.yaml: %v\n  body %q\n  answer %d %s", err, body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusBadRequest && !strings.Contains(rec.Body.String(), `"reason"`) {
			t.Fatalf("400 without a reason: %s", rec.Body)
		}
		// Keep the store small between inputs: one sale waits for a scan
		// at a time, which would make every later sale without a
		// customer a 409.
		if rec.Code == http.StatusCreated || rec.Code == http.StatusOK {
			var ref struct{ Reference string }
			_ = json.Unmarshal(rec.Body.Bytes(), &ref)
			_, _ = r.agent.CancelSale(context.Background(), ref.Reference)
		}
	})
}

// FuzzCommandBodies feeds arbitrary bodies to the other routes that read
// one (cancel, capture, refund of a captured sale, scans): never a 5xx,
// only what openapi.yaml declares, and a 400 names the field and the
// reason.
func FuzzCommandBodies(f *testing.F) {
	for _, seed := range []string{``, `{}`, `null`, `[]`, `{"amount":100}`, `{"amount":0}`, `{"amount":-1}`,
		`{"refundId":"r-1"}`, `{"amount":100,"refundId":"r-1"}`, `{"amount":1e2}`, `{"code":"7038010055690"}`,
		`{"code":"` + qrCode + `"}`, `{"amount":100}{}`, `{"a`, "\xff"} {
		for route := range uint8(4) {
			f.Add(route, []byte(seed))
		}
	}
	r := newRig(f, rigOptions{store: store.Options{NoSync: true}, agent: agent.Options{MaxQueued: 1 << 30}})
	if _, _, err := r.client.CreateSale(context.Background(), sale("fuzz-paid-1", 100000)); err != nil {
		f.Fatal(err)
	}
	r.waitState("fuzz-paid-1", agent.Completed)
	paths := []string{"/api/v1/sales/fuzz-paid-1/refund", "/api/v1/sales/fuzz-paid-1/cancel",
		"/api/v1/sales/fuzz-paid-1/capture", "/api/v1/scans"}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := paths[int(route)%len(paths)]
		req := httptest.NewRequestWithContext(withMalformed(context.Background()), http.MethodPost, "http://127.0.0.1"+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+r.token.Reveal())
		rec := httptest.NewRecorder()
		r.api.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%d for %s %q: %s", rec.Code, path, body, rec.Body)
		}
		if err := r.spec.check(req, body, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("openapi.yaml: %v\n  %s %q\n  answer %d %s", err, path, body, rec.Code, rec.Body)
		}
	})
}
