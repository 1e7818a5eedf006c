package spectest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

const (
	base          = "http://127.0.0.1:54321"
	secretToken   = "Bearer tok-SECRET-must-not-leak"
	secretSubKey  = "subkey-SECRET-must-not-leak"
	secretClient  = "clientsecret-SECRET-must-not-leak"
	secretAccess  = "eyJ-access-SECRET-must-not-leak"
	reference     = "tillbox-order-0001"
	pushPayment   = `{"amount":{"currency":"NOK","value":1000},"paymentMethod":{"type":"WALLET"},"customer":{"phoneNumber":"4712345678"},"reference":"tillbox-order-0001","userFlow":"PUSH_MESSAGE","paymentDescription":"Coffee"}`
	problem400    = `{"type":"https://developer.vippsmobilepay.com/docs/APIs/epayment-api/errors","title":"Bad Request","detail":"reference is invalid","status":400,"traceId":"0f1e2d3c"}`
	amount        = `{"currency":"NOK","value":1000}`
	zero          = `{"currency":"NOK","value":0}`
	aggregate     = `{"authorizedAmount":` + amount + `,"cancelledAmount":` + zero + `,"capturedAmount":` + zero + `,"refundedAmount":` + zero + `}`
	getPaymentOK  = `{"aggregate":` + aggregate + `,"amount":` + amount + `,"state":"AUTHORIZED","paymentMethod":{"type":"WALLET"},"profile":{},"pspReference":"1234567890","reference":"tillbox-order-0001"}`
	modification  = `{"amount":` + amount + `,"state":"AUTHORIZED","aggregate":` + aggregate + `,"pspReference":"1234567891","reference":"tillbox-order-0001"}`
	tokenResponse = `{"token_type":"Bearer","expires_in":"86398","ext_expires_in":"0","expires_on":"1547823408","not_before":"1547819508","resource":"00000002-0000-0000-c000-000000000000","access_token":"` + secretAccess + `"}`
	receipt       = `{"orderLines":[{"name":"Coffee","id":"sku-1","totalAmount":1000,"totalAmountExcludingTax":800,"totalTaxAmount":200,"taxRate":2500}],"bottomLine":{"currency":"NOK","posId":"till-1","receiptNumber":"42"}}`
)

// apiHeaders are the headers our client sends to the Vipps APIs.
func apiHeaders() http.Header {
	return http.Header{
		"Authorization":               {secretToken},
		"Ocp-Apim-Subscription-Key":   {secretSubKey},
		"Merchant-Serial-Number":      {"123456"},
		"Idempotency-Key":             {"2f0ef3c1-6a5c-4d8e-9a8b-3c2d1e0f9a8b"},
		"Vipps-System-Name":           {"tillbox"},
		"Vipps-System-Version":        {"0.1.0"},
		"Vipps-System-Plugin-Name":    {"tillbox-agent"},
		"Vipps-System-Plugin-Version": {"0.1.0"},
		"Content-Type":                {"application/json"},
	}
}

// headers returns apiHeaders for a request with body, edited by edit.
func headers(body string, edit func(http.Header)) http.Header {
	h := apiHeaders()
	if body == "" {
		h.Del("Content-Type")
	}
	if edit != nil {
		edit(h)
	}
	return h
}

// req builds an in-memory loopback request.
func req(method, path, body string, edit func(http.Header)) (*http.Request, []byte) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, base+path, rd)
	r.Header = headers(body, edit)
	return r, []byte(body)
}

func without(names ...string) func(http.Header) {
	return func(h http.Header) {
		for _, n := range names {
			h.Del(n)
		}
	}
}

func with(name, value string) func(http.Header) {
	return func(h http.Header) { h.Set(name, value) }
}

func tokenHeaders(h http.Header) {
	h.Del("Idempotency-Key")
	h.Del("Authorization")
	h.Set("client_id", "fb492b5e-7907-4d83-ba20-c7fb60ca35de")
	h.Set("client_secret", secretClient)
}

func TestValidateRequest(t *testing.T) {
	t.Parallel()
	s := Load(t)
	tests := []struct {
		name, method, path, body string
		edit                     func(http.Header)
		wantOp                   string
		wantErr                  string // "" = must pass
	}{
		{name: "createPayment push", method: "POST", path: "/epayment/v1/payments", body: pushPayment, wantOp: "createPayment"},
		{name: "createPayment charset", method: "POST", path: "/epayment/v1/payments", body: pushPayment, edit: with("Content-Type", "application/json; charset=utf-8"), wantOp: "createPayment"},
		{name: "createPayment personal QR", method: "POST", path: "/epayment/v1/payments", wantOp: "createPayment",
			body: strings.Replace(pushPayment, `"phoneNumber":"4712345678"`, `"personalQr":"https://qr.vipps.no/28/2/01/031/4712345678?v=1"`, 1)},
		{name: "createPayment no reference", method: "POST", path: "/epayment/v1/payments", wantOp: "createPayment", wantErr: "reference",
			body: strings.Replace(pushPayment, `"reference":"tillbox-order-0001",`, "", 1)},
		{name: "createPayment two customer fields", method: "POST", path: "/epayment/v1/payments", wantOp: "createPayment", wantErr: "oneOf",
			body: strings.Replace(pushPayment, `"phoneNumber":"4712345678"`, `"phoneNumber":"4712345678","personalQr":"https://qr.vipps.no/p/4712345678"`, 1)},
		{name: "createPayment empty customer", method: "POST", path: "/epayment/v1/payments", wantOp: "createPayment", wantErr: "customer",
			body: strings.Replace(pushPayment, `"phoneNumber":"4712345678"`, ``, 1)},
		{name: "createPayment float amount", method: "POST", path: "/epayment/v1/payments", wantOp: "createPayment", wantErr: "integer",
			body: strings.Replace(pushPayment, `"value":1000`, `"value":10.5`, 1)},
		{name: "createPayment bad MSN", method: "POST", path: "/epayment/v1/payments", body: pushPayment, edit: with("Merchant-Serial-Number", "12ab"),
			wantOp: "createPayment", wantErr: "Merchant-Serial-Number"},
		{name: "createPayment no Idempotency-Key", method: "POST", path: "/epayment/v1/payments", body: pushPayment, edit: without("Idempotency-Key"),
			wantOp: "createPayment", wantErr: "Idempotency-Key"},
		{name: "createPayment no subscription key", method: "POST", path: "/epayment/v1/payments", body: pushPayment, edit: without("Ocp-Apim-Subscription-Key"),
			wantOp: "createPayment", wantErr: "Ocp-Apim-Subscription-Key"},
		{name: "createPayment long Vipps-System-Name", method: "POST", path: "/epayment/v1/payments", body: pushPayment,
			edit: with("Vipps-System-Name", strings.Repeat("x", 31)), wantOp: "createPayment", wantErr: "Vipps-System-Name"},
		{name: "createPayment no Authorization (not validated)", method: "POST", path: "/epayment/v1/payments", body: pushPayment, edit: without("Authorization"), wantOp: "createPayment"},
		{name: "createPayment no Content-Type", method: "POST", path: "/epayment/v1/payments", body: pushPayment, edit: without("Content-Type"), wantOp: "createPayment", wantErr: "Content-Type"},
		{name: "getPayment", method: "GET", path: "/epayment/v1/payments/" + reference, edit: without("Idempotency-Key"), wantOp: "getPayment"},
		{name: "getPayment bad reference", method: "GET", path: "/epayment/v1/payments/bad_ref!", wantOp: "getPayment", wantErr: "Reference"},
		{name: "getPayment with a body", method: "GET", path: "/epayment/v1/payments/" + reference, body: `{}`, wantOp: "getPayment", wantErr: "body"},
		{name: "capture", method: "POST", path: "/epayment/v1/payments/" + reference + "/capture", body: `{"modificationAmount":` + amount + `}`, wantOp: "capturePayment"},
		{name: "capture no amount", method: "POST", path: "/epayment/v1/payments/" + reference + "/capture", body: `{}`, wantOp: "capturePayment", wantErr: "modificationAmount"},
		{name: "cancel without body", method: "POST", path: "/epayment/v1/payments/" + reference + "/cancel", edit: without("Idempotency-Key"), wantOp: "cancelPayment"},
		{name: "force approve", method: "POST", path: "/epayment/v1/test/payments/" + reference + "/approve", body: `{"customer":{"phoneNumber":"4712345678"}}`, wantOp: "forceApprove"},
		{name: "unknown ePayment path", method: "GET", path: "/epayment/v1/nope", wantErr: "no operation"},
		{name: "unknown ePayment method", method: "DELETE", path: "/epayment/v1/payments/" + reference, wantErr: "no operation"},
		{name: "simulator control path", method: "POST", path: "/sim/payments/" + reference + "/approve", body: `{"anything":1}`},
		{name: "token", method: "POST", path: "/accesstoken/get", edit: tokenHeaders, wantOp: "fetchAuthorizationTokenUsingPost"},
		{name: "token bad client_id", method: "POST", path: "/accesstoken/get", edit: func(h http.Header) { tokenHeaders(h); h.Set("client_id", "not-a-guid") },
			wantOp: "fetchAuthorizationTokenUsingPost", wantErr: "client_id"},
		{name: "token no client_secret", method: "POST", path: "/accesstoken/get", edit: func(h http.Header) { tokenHeaders(h); h.Del("client_secret") },
			wantOp: "fetchAuthorizationTokenUsingPost", wantErr: "client_secret"},
		{name: "webhooks register", method: "POST", path: "/webhooks/v1/webhooks", wantOp: "POST /webhooks/v1/webhooks",
			body: `{"url":"https://example.com/vipps/webhook","events":["epayments.payment.authorized.v1","epayments.payment.aborted.v1"]}`},
		{name: "webhooks register relative url", method: "POST", path: "/webhooks/v1/webhooks", wantOp: "POST /webhooks/v1/webhooks", wantErr: "url",
			body: `{"url":"/vipps/webhook","events":["epayments.payment.authorized.v1"]}`},
		{name: "webhooks delete", method: "DELETE", path: "/webhooks/v1/webhooks/2f0ef3c1-6a5c-4d8e-9a8b-3c2d1e0f9a8b", wantOp: "DELETE /webhooks/v1/webhooks/{id}"},
		{name: "webhooks delete bad id", method: "DELETE", path: "/webhooks/v1/webhooks/42", wantOp: "DELETE /webhooks/v1/webhooks/{id}", wantErr: "id"},
		{name: "QR exchange", method: "POST", path: "/qr/v1/exchange", body: `{"qrCode":"https://qr.vipps.no/28/2/01/031/4712345678?v=1","requestedData":["MSISDN"]}`, wantOp: "exchangeQr"},
		{name: "QR exchange no qrCode", method: "POST", path: "/qr/v1/exchange", body: `{"requestedData":["MSISDN"]}`, wantOp: "exchangeQr", wantErr: "qrCode"},
		{name: "OM receipt", method: "POST", path: "/order-management/v2/ECOM/receipts/" + reference, body: receipt, wantOp: "post-receipt-v2"},
		{name: "OM receipt bad paymentType", method: "POST", path: "/order-management/v2/SHOP/receipts/" + reference, body: receipt, wantOp: "post-receipt-v2", wantErr: "paymentType"},
		{name: "OM receipt no bottomLine", method: "POST", path: "/order-management/v2/ECOM/receipts/" + reference, wantOp: "post-receipt-v2", wantErr: "bottomLine",
			body: `{"orderLines":[{"name":"Coffee","id":"sku-1","totalAmount":1000,"totalAmountExcludingTax":800,"totalTaxAmount":200}]}`},
		{name: "OM category", method: "PUT", path: "/order-management/v2/ECOM/categories/" + reference, body: `{"category":"RECEIPT","orderDetailsUrl":"https://example.com/r/42"}`, wantOp: "put-category-v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, body := req(tt.method, tt.path, tt.body, tt.edit)
			op, err := s.ValidateRequest(r, body)
			if op != tt.wantOp {
				t.Errorf("operation %q, want %q", op, tt.wantOp)
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("want no error, got: %v", err)
	case want != "" && err == nil:
		t.Errorf("want an error about %q, got none", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("want an error about %q, got: %v", want, err)
	}
	if err != nil {
		for _, secret := range []string{secretToken, secretSubKey, secretClient, secretAccess} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error text leaks a secret: %v", err)
			}
		}
	}
}

func TestValidateResponse(t *testing.T) {
	t.Parallel()
	s := Load(t)
	problemJSON := http.Header{"Content-Type": {"application/problem+json"}}
	appJSON := http.Header{"Content-Type": {"application/json"}}
	ct := func(v string) http.Header { return http.Header{"Content-Type": {v}} }
	tests := []struct {
		name, method, path string
		status             int
		h                  http.Header
		body               string
		wantOp, wantErr    string
	}{
		{name: "createPayment 201", method: "POST", path: "/epayment/v1/payments", status: 201, h: appJSON, body: `{"reference":"tillbox-order-0001"}`, wantOp: "createPayment"},
		{name: "createPayment 201 redirect", method: "POST", path: "/epayment/v1/payments", status: 201, h: appJSON, wantOp: "createPayment",
			body: `{"reference":"tillbox-order-0001","redirectUrl":"https://landing.vipps.no?token=abc123"}`},
		{name: "createPayment 201 relative redirect", method: "POST", path: "/epayment/v1/payments", status: 201, h: appJSON, wantOp: "createPayment", wantErr: "redirectUrl",
			body: `{"reference":"tillbox-order-0001","redirectUrl":"landing?token=abc123"}`},
		{name: "createPayment undeclared 200", method: "POST", path: "/epayment/v1/payments", status: 200, h: appJSON, body: `{"reference":"tillbox-order-0001"}`,
			wantOp: "createPayment", wantErr: "not declared"},
		{name: "createPayment 400", method: "POST", path: "/epayment/v1/payments", status: 400, h: problemJSON, body: problem400, wantOp: "createPayment"},
		{name: "createPayment 400 with extraDetails", method: "POST", path: "/epayment/v1/payments", status: 400, h: problemJSON, wantOp: "createPayment",
			body: strings.Replace(problem400, `}`, `,"extraDetails":[{"name":"reference","reason":"too short"}]}`, 1)},
		{name: "createPayment 400 incomplete problem", method: "POST", path: "/epayment/v1/payments", status: 400, h: problemJSON, body: `{"title":"Bad Request","detail":"nope"}`,
			wantOp: "createPayment", wantErr: "type"},
		{name: "createPayment 400 as application/json", method: "POST", path: "/epayment/v1/payments", status: 400, h: appJSON, body: problem400,
			wantOp: "createPayment", wantErr: "Content-Type"},
		{name: "getPayment 200", method: "GET", path: "/epayment/v1/payments/" + reference, status: 200, h: appJSON, body: getPaymentOK, wantOp: "getPayment"},
		{name: "getPayment 200 no aggregate", method: "GET", path: "/epayment/v1/payments/" + reference, status: 200, h: appJSON, wantOp: "getPayment", wantErr: "aggregate",
			body: strings.Replace(getPaymentOK, `"aggregate":`+aggregate+`,`, "", 1)},
		{name: "getPayment 200 bad state", method: "GET", path: "/epayment/v1/payments/" + reference, status: 200, h: appJSON, wantOp: "getPayment", wantErr: "state",
			body: strings.Replace(getPaymentOK, `"AUTHORIZED"`, `"DONE"`, 1)},
		{name: "getPayment 404 problem (undeclared)", method: "GET", path: "/epayment/v1/payments/" + reference, status: 404, h: problemJSON, wantOp: "getPayment",
			body: strings.NewReplacer("400", "404", "Bad Request", "Not Found").Replace(problem400)},
		{name: "getPayment 404 not a problem", method: "GET", path: "/epayment/v1/payments/" + reference, status: 404, h: problemJSON, body: `{"error":"not found"}`,
			wantOp: "getPayment", wantErr: "error schema"},
		{name: "getPayment 404 empty", method: "GET", path: "/epayment/v1/payments/" + reference, status: 404, h: problemJSON, wantOp: "getPayment", wantErr: "not JSON"},
		{name: "getPayment 429 Retry-After seconds", method: "GET", path: "/epayment/v1/payments/" + reference, status: 429, wantOp: "getPayment",
			h:    http.Header{"Content-Type": {"application/problem+json"}, "Retry-After": {"2"}},
			body: strings.NewReplacer("400", "429", "Bad Request", "Too Many Requests").Replace(problem400)},
		{name: "getPayment 429 Retry-After date", method: "GET", path: "/epayment/v1/payments/" + reference, status: 429, wantOp: "getPayment",
			h:    http.Header{"Content-Type": {"application/problem+json"}, "Retry-After": {"Wed, 21 Oct 2015 07:28:00 GMT"}},
			body: strings.NewReplacer("400", "429", "Bad Request", "Too Many Requests").Replace(problem400)},
		{name: "getPayment 429 bad Retry-After", method: "GET", path: "/epayment/v1/payments/" + reference, status: 429, wantOp: "getPayment", wantErr: "Retry-After",
			h:    http.Header{"Content-Type": {"application/problem+json"}, "Retry-After": {"soon"}},
			body: strings.NewReplacer("400", "429", "Bad Request", "Too Many Requests").Replace(problem400)},
		{name: "events 200", method: "GET", path: "/epayment/v1/payments/" + reference + "/events", status: 200, h: appJSON, wantOp: "getPaymentEventLog",
			body: `[{"reference":"tillbox-order-0001","pspReference":"1","name":"CREATED","amount":` + amount + `,"timestamp":"2026-01-02T03:04:05.123Z","success":true,"idempotencyKey":null}]`},
		{name: "events 200 bad timestamp", method: "GET", path: "/epayment/v1/payments/" + reference + "/events", status: 200, h: appJSON, wantOp: "getPaymentEventLog", wantErr: "timestamp",
			body: `[{"reference":"tillbox-order-0001","pspReference":"1","name":"CREATED","amount":` + amount + `,"timestamp":"yesterday","success":true}]`},
		{name: "capture 200 application/json", method: "POST", path: "/epayment/v1/payments/" + reference + "/capture", status: 200, h: appJSON, body: modification, wantOp: "capturePayment"},
		{name: "refund 200 as declared problem+json", method: "POST", path: "/epayment/v1/payments/" + reference + "/refund", status: 200, h: problemJSON, body: modification, wantOp: "refundPayment"},
		{name: "cancel 200 incomplete", method: "POST", path: "/epayment/v1/payments/" + reference + "/cancel", status: 200, h: appJSON, body: `{"reference":"tillbox-order-0001"}`,
			wantOp: "cancelPayment", wantErr: "aggregate"},
		{name: "cancel 200 text/plain", method: "POST", path: "/epayment/v1/payments/" + reference + "/cancel", status: 200, h: ct("text/plain"), body: modification,
			wantOp: "cancelPayment", wantErr: "Content-Type"},
		{name: "force approve 200", method: "POST", path: "/epayment/v1/test/payments/" + reference + "/approve", status: 200, wantOp: "forceApprove"},
		{name: "token 200 as declared", method: "POST", path: "/accesstoken/get", status: 200, h: ct("application/json;charset=UTF-8"), body: tokenResponse, wantOp: "fetchAuthorizationTokenUsingPost"},
		{name: "token 200 application/json; charset=utf-8", method: "POST", path: "/accesstoken/get", status: 200, h: ct("application/json; charset=utf-8"), body: tokenResponse, wantOp: "fetchAuthorizationTokenUsingPost"},
		{name: "token 200 incomplete", method: "POST", path: "/accesstoken/get", status: 200, h: appJSON, wantOp: "fetchAuthorizationTokenUsingPost", wantErr: "expires_on",
			body: strings.Replace(tokenResponse, `"expires_on":"1547823408",`, "", 1)},
		{name: "token 200 numeric expires_in", method: "POST", path: "/accesstoken/get", status: 200, h: appJSON, wantOp: "fetchAuthorizationTokenUsingPost", wantErr: "expires_in",
			body: strings.Replace(tokenResponse, `"expires_in":"86398"`, `"expires_in":86398`, 1)},
		{name: "webhooks register 201", method: "POST", path: "/webhooks/v1/webhooks", status: 201, h: appJSON, wantOp: "POST /webhooks/v1/webhooks",
			body: `{"id":"2f0ef3c1-6a5c-4d8e-9a8b-3c2d1e0f9a8b","secret":"090a478d-37ff-4e77-970e-d457aeb26a3a"}`},
		{name: "webhooks register 201 bad id", method: "POST", path: "/webhooks/v1/webhooks", status: 201, h: appJSON, wantOp: "POST /webhooks/v1/webhooks", wantErr: "id",
			body: `{"id":"webhook-1","secret":"090a478d-37ff-4e77-970e-d457aeb26a3a"}`},
		{name: "webhooks list 200", method: "GET", path: "/webhooks/v1/webhooks", status: 200, h: appJSON, wantOp: "GET /webhooks/v1/webhooks",
			body: `{"webhooks":[{"id":"2f0ef3c1-6a5c-4d8e-9a8b-3c2d1e0f9a8b","url":"https://example.com/vipps/webhook","events":["epayments.payment.authorized.v1"]}]}`},
		{name: "webhooks delete 204", method: "DELETE", path: "/webhooks/v1/webhooks/2f0ef3c1-6a5c-4d8e-9a8b-3c2d1e0f9a8b", status: 204, wantOp: "DELETE /webhooks/v1/webhooks/{id}"},
		{name: "webhooks 404 (undeclared) ProblemDetails", method: "DELETE", path: "/webhooks/v1/webhooks/2f0ef3c1-6a5c-4d8e-9a8b-3c2d1e0f9a8b", status: 404, h: problemJSON,
			body: `{"title":"Not Found","status":404,"traceId":"x"}`, wantOp: "DELETE /webhooks/v1/webhooks/{id}"},
		{name: "webhooks 404 (undeclared) extra field", method: "DELETE", path: "/webhooks/v1/webhooks/2f0ef3c1-6a5c-4d8e-9a8b-3c2d1e0f9a8b", status: 404, h: problemJSON,
			body: `{"title":"Not Found","status":404,"oops":true}`, wantOp: "DELETE /webhooks/v1/webhooks/{id}", wantErr: "oops"},
		{name: "QR exchange 200", method: "POST", path: "/qr/v1/exchange", status: 200, h: appJSON, body: `{"msisdn":"4712345678","timestamp":1634025600,"version":"2.0"}`, wantOp: "exchangeQr"},
		{name: "QR exchange 200 no version", method: "POST", path: "/qr/v1/exchange", status: 200, h: appJSON, body: `{"msisdn":"4712345678"}`, wantOp: "exchangeQr", wantErr: "version"},
		{name: "QR exchange 400", method: "POST", path: "/qr/v1/exchange", status: 400, h: appJSON, wantOp: "exchangeQr",
			body: `{"title":"Bad request","status":400,"detail":"The request body contains one or more invalid parameters.","extraDetails":[{"name":"qrCode","reason":"required"}]}`},
		{name: "OM receipt 201", method: "POST", path: "/order-management/v2/ECOM/receipts/" + reference, status: 201, h: appJSON, body: `"16328cb8-d769-4c53-90ad-e19777823f0a"`, wantOp: "post-receipt-v2"},
		{name: "OM receipt 409", method: "POST", path: "/order-management/v2/ECOM/receipts/" + reference, status: 409, h: appJSON, wantOp: "post-receipt-v2",
			body: `{"type":"about:blank","title":"Conflict","detail":"Receipt already exists","instance":"00-abc-def-00"}`},
		{name: "OM receipt 409 incomplete", method: "POST", path: "/order-management/v2/ECOM/receipts/" + reference, status: 409, h: appJSON, wantOp: "post-receipt-v2", wantErr: "instance",
			body: `{"title":"Conflict","detail":"Receipt already exists"}`},
		{name: "OM receipt 500 (undeclared)", method: "POST", path: "/order-management/v2/ECOM/receipts/" + reference, status: 500, h: appJSON, wantOp: "post-receipt-v2", wantErr: "detail",
			body: `{"title":"Internal error"}`},
		{name: "OM get order 200", method: "GET", path: "/order-management/v2/ECOM/" + reference, status: 200, h: appJSON, wantOp: "get-order-v2",
			body: `{"category":{"category":"RECEIPT","orderDetailsUrl":"https://example.com/r/42"},"receipt":` + receipt + `}`},
		{name: "simulator control path", method: "GET", path: "/sim/state", status: 418, h: ct("text/plain"), body: "whatever"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, reqBody := req(tt.method, tt.path, "", nil)
			op, err := s.ValidateResponse(r, reqBody, tt.status, tt.h, []byte(tt.body))
			if op != tt.wantOp {
				t.Errorf("operation %q, want %q", op, tt.wantOp)
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

// recorder is a testing.TB that records Errorf calls instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// fakeVipps answers like the real APIs, except for getPayment, whose answer
// lacks `aggregate`, and the token, whose answer lacks `resource`.
func fakeVipps() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /epayment/v1/payments", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"reference":"tillbox-order-0001"}`)
	})
	mux.HandleFunc("GET /epayment/v1/payments/{ref}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, strings.Replace(getPaymentOK, `"aggregate":`+aggregate+`,`, "", 1))
	})
	mux.HandleFunc("POST /accesstoken/get", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, strings.Replace(tokenResponse, `"resource":"00000002-0000-0000-c000-000000000000",`, "", 1))
	})
	mux.HandleFunc("GET /sim/state", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "sim ok")
	})
	return mux
}

func do(t *testing.T, c *http.Client, method, url, body string, edit func(http.Header)) (int, string) {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header = headers(body, edit)
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestTransport(t *testing.T) {
	t.Parallel()
	s := Load(t)
	srv := httptest.NewServer(fakeVipps())
	defer srv.Close()
	rec := &recorder{}
	tr := s.Transport(rec, srv.Client().Transport)
	c := &http.Client{Transport: tr}

	if st, body := do(t, c, "POST", srv.URL+"/epayment/v1/payments", pushPayment, nil); st != 201 || !strings.Contains(body, reference) {
		t.Errorf("createPayment: %d %s", st, body)
	}
	if errs := rec.errors(); len(errs) != 0 {
		t.Fatalf("a valid exchange was reported: %q", errs)
	}
	if st, body := do(t, c, "GET", srv.URL+"/sim/state", "", nil); st != 200 || body != "sim ok" {
		t.Errorf("sim: %d %s", st, body)
	}
	if errs := rec.errors(); len(errs) != 0 {
		t.Fatalf("a path outside the specs was reported: %q", errs)
	}

	// The body still reaches the caller after validation.
	if st, body := do(t, c, "GET", srv.URL+"/epayment/v1/payments/"+reference, "", without("Idempotency-Key", "Content-Type")); st != 200 || !strings.Contains(body, "pspReference") {
		t.Errorf("getPayment: %d %s", st, body)
	}
	errs := rec.errors()
	if len(errs) != 1 {
		t.Fatalf("want 1 report for getPayment, got %q", errs)
	}
	for _, want := range []string{"GET", "/epayment/v1/payments/" + reference, "-> 200", "aggregate", "response body:", "pspReference"} {
		if !strings.Contains(errs[0], want) {
			t.Errorf("report lacks %q: %s", want, errs[0])
		}
	}

	// A bad request and a bad token response: reported, secrets masked.
	do(t, c, "POST", srv.URL+"/accesstoken/get", "", func(h http.Header) { tokenHeaders(h); h.Set("client_id", "nope") })
	errs = rec.errors()[1:]
	if len(errs) != 2 || !strings.Contains(errs[0], "client_id") || !strings.Contains(errs[1], "resource") {
		t.Fatalf("want a client_id and a resource report, got %q", errs)
	}
	if !strings.Contains(errs[1], `"access_token":"***"`) {
		t.Errorf("access_token not masked: %s", errs[1])
	}
	for _, e := range rec.errors() {
		for _, secret := range []string{secretToken, secretSubKey, secretClient, secretAccess} {
			if strings.Contains(e, secret) {
				t.Errorf("report leaks a secret: %s", e)
			}
		}
	}

	want := map[string][]int{"createPayment": {201}, "getPayment": {200}, "fetchAuthorizationTokenUsingPost": {200}}
	if got := tr.Coverage(); !reflect.DeepEqual(got, want) {
		t.Errorf("coverage %v, want %v", got, want)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	s := Load(t)
	rec := &recorder{}
	mw := s.Handler(rec, fakeVipps())
	srv := httptest.NewServer(mw)
	defer srv.Close()
	c := srv.Client()

	if st, body := do(t, c, "POST", srv.URL+"/epayment/v1/payments", pushPayment, nil); st != 201 || body != `{"reference":"tillbox-order-0001"}` {
		t.Errorf("createPayment: %d %s", st, body)
	}
	if st, body := do(t, c, "GET", srv.URL+"/sim/state", "", nil); st != 200 || body != "sim ok" {
		t.Errorf("sim: %d %s", st, body)
	}
	if errs := rec.errors(); len(errs) != 0 {
		t.Fatalf("valid exchanges were reported: %q", errs)
	}
	do(t, c, "GET", srv.URL+"/epayment/v1/payments/"+reference, "", without("Idempotency-Key", "Content-Type"))
	do(t, c, "POST", srv.URL+"/epayment/v1/payments", strings.Replace(pushPayment, `"value":1000`, `"value":10.5`, 1), nil)
	// Under a known prefix but no operation: a failure, the handler still answers.
	if st, _ := do(t, c, "GET", srv.URL+"/epayment/v2/payments", "", nil); st != 404 {
		t.Errorf("unknown path: status %d, want the handler's 404", st)
	}
	errs := rec.errors()
	if len(errs) != 3 || !strings.Contains(errs[0], "aggregate") || !strings.Contains(errs[1], "integer") || !strings.Contains(errs[2], "no operation") {
		t.Fatalf("want aggregate, integer and no-operation reports, got %q", errs)
	}
	want := map[string][]int{"createPayment": {201}, "getPayment": {200}}
	if got := mw.Coverage(); !reflect.DeepEqual(got, want) {
		t.Errorf("coverage %v, want %v", got, want)
	}
}

// TestConcurrent runs many exchanges at once through one Transport (run with -race).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := Load(t)
	srv := httptest.NewServer(fakeVipps())
	defer srv.Close()
	rec := &recorder{}
	tr := s.Transport(rec, srv.Client().Transport)
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 5 {
				do(t, c, "POST", srv.URL+"/epayment/v1/payments", pushPayment, nil)
			}
		})
	}
	wg.Wait()
	if errs := rec.errors(); len(errs) != 0 {
		t.Fatalf("reports: %q", errs)
	}
	if got := tr.Coverage(); !reflect.DeepEqual(got, map[string][]int{"createPayment": {201}}) {
		t.Errorf("coverage %v", got)
	}
}

func TestSpecsDir(t *testing.T) {
	dir, err := SpecsDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "epayment-api.yaml")); err != nil {
		t.Fatalf("SpecsDir %s: %v", dir, err)
	}
	t.Setenv(EnvSpecsDir, "/nonexistent/specs")
	if got, err := SpecsDir(); err != nil || got != "/nonexistent/specs" {
		t.Errorf("SpecsDir with $%s = %q, %v", EnvSpecsDir, got, err)
	}
}

func TestLoadDirMissing(t *testing.T) {
	t.Parallel()
	_, err := LoadDir(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "epayment-api.yaml") || !strings.Contains(err.Error(), EnvSpecsDir) {
		t.Fatalf("want a clear error naming the missing file, got %v", err)
	}
}

func TestOperationIDs(t *testing.T) {
	t.Parallel()
	ops := Load(t).OperationIDs()
	for _, want := range []string{"createPayment", "getPayment", "getPaymentEventLog", "cancelPayment", "capturePayment", "refundPayment", "forceApprove",
		"fetchAuthorizationTokenUsingPost", "POST /webhooks/v1/webhooks", "exchangeQr", "post-receipt-v2"} {
		found := false
		for _, op := range ops {
			found = found || op == want
		}
		if !found {
			t.Errorf("operation %q missing from %q", want, ops)
		}
	}
}
