package sim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/epayment"
)

func TestCreatePushPayment(t *testing.T) {
	g := newRig(t, Options{})
	key := newKey()
	r := g.call("POST", "/epayment/v1/payments", createBody("create-ref-01", 49900, phone("4712345678")), "Idempotency-Key", key)
	r.want(http.StatusCreated)
	var cr epayment.CreatePaymentResponse
	r.decode(&cr)
	if cr.Reference != "create-ref-01" || cr.RedirectURL != "" {
		t.Fatalf("create answer %+v: PUSH_MESSAGE returns the reference and no redirectUrl", cr)
	}
	p := g.get("create-ref-01")
	if p.State != epayment.StateCreated || p.Amount != nok(49900) || p.PaymentMethod.Type != "WALLET" {
		t.Fatalf("payment %+v", p)
	}
	wantAggregate(t, p.Aggregate, 0, 0, 0, 0)
	evs := g.events("create-ref-01")
	if len(evs) != 1 || evs[0].Name != epayment.EventCreated || evs[0].IdempotencyKey == nil || *evs[0].IdempotencyKey != key ||
		evs[0].PSPReference != p.PSPReference || !evs[0].Timestamp.Equal(testStart) || evs[0].Amount != nok(49900) {
		t.Fatalf("events %+v", evs)
	}
	info := g.info("create-ref-01")
	if info.PhoneNumber != "4712345678" || !info.ExpiresAt.Equal(testStart.Add(paymentLifetime)) || info.Ops.Create != 1 {
		t.Fatalf("info %+v", info)
	}
}

func TestCreateRedirectFlows(t *testing.T) {
	g := newRig(t, Options{})
	for _, tc := range []struct{ flow, prefix string }{
		{"WEB_REDIRECT", "https://landing.vipps.no?token="},
		{"QR", "https://qr-image.vipps.no/v1?token="},
		{"NATIVE_REDIRECT", "vipps://?token="},
	} {
		ref := "flow-ref-" + strings.ReplaceAll(strings.ToLower(tc.flow), "_", "-")
		b := createBody(ref, 1000, nil)
		b["userFlow"] = tc.flow
		b["returnUrl"] = "https://shop.example/return"
		var cr epayment.CreatePaymentResponse
		g.call("POST", "/epayment/v1/payments", b, "Idempotency-Key", newKey()).want(http.StatusCreated).decode(&cr)
		if !strings.HasPrefix(cr.RedirectURL, tc.prefix) {
			t.Fatalf("%s: redirectUrl %q", tc.flow, cr.RedirectURL)
		}
		if p := g.get(ref); p.RedirectURL != cr.RedirectURL {
			t.Fatalf("%s: GET redirectUrl %q", tc.flow, p.RedirectURL)
		}
	}
}

func TestCreateValidation(t *testing.T) {
	g := newRig(t, Options{})
	g.AddUserForTest(User{PhoneNumber: "4798765432", Ineligible: true})
	g.create("existing-ref-1", 1000)

	type edit func(map[string]any)
	set := func(k string, v any) edit { return func(b map[string]any) { b[k] = v } }
	del := func(k string) edit { return func(b map[string]any) { delete(b, k) } }
	amount := func(v any, cur string) edit {
		return set("amount", map[string]any{"currency": cur, "value": v})
	}
	for i, tc := range []struct {
		name   string
		edits  []edit
		raw    bool // the body breaks the spec's schema
		status int
		code   string // "" with field: a 400 naming the field
		field  string
	}{
		{"reference too short", []edit{set("reference", "short")}, true, 400, "", "reference"},
		{"reference bad char", []edit{set("reference", "ref_with_underscore")}, true, 400, "", "reference"},
		{"reference too long", []edit{set("reference", strings.Repeat("r", 65))}, true, 400, "", "reference"},
		{"reference missing", []edit{del("reference")}, true, 400, "", "reference"},
		{"decimals", []edit{amount(100.5, "NOK")}, true, 400, codeInvalidAmount, ""},
		{"above max", []edit{amount(65_000_001, "NOK")}, true, 400, codeInvalidAmount, ""},
		{"below NOK minimum", []edit{amount(99, "NOK")}, false, 400, codeAmountTooSmall, ""},
		{"other currency", []edit{amount(1000, "DKK")}, false, 400, codeInvalidCurrency, ""},
		{"card-passthrough currency", []edit{amount(1000, "SEK")}, false, 400, codeInvalidCurrency, ""},
		{"unknown currency", []edit{amount(1000, "XYZ")}, true, 400, "", "amount.currency"},
		{"amount missing", []edit{del("amount")}, true, 400, "", "amount"},
		{"two customer fields", []edit{set("customer", map[string]any{"phoneNumber": "4712345678", "personalQr": "https://qr.vipps.no/p/Yk7WcS2pQe9Hn4Rt"})}, true, 400, "", "customer"},
		{"empty customer", []edit{set("customer", map[string]any{})}, true, 400, "", "customer"},
		{"phone with plus", []edit{set("customer", phone("+4712345678"))}, true, 400, codeInvalidPhoneNumber, ""},
		{"phone too short", []edit{set("customer", phone("12345678"))}, true, 400, codeInvalidPhoneNumber, ""},
		{"EAN-13 as personal QR", []edit{set("customer", map[string]any{"personalQr": "7038010055607"})}, false, 400, codeInvalidPersonalQR, ""},
		{"random URL as personal QR", []edit{set("customer", map[string]any{"personalQr": "https://example.com/4712345678"})}, false, 400, codeInvalidPersonalQR, ""},
		{"payment link as personal QR", []edit{set("customer", map[string]any{"personalQr": "https://qr.vipps.no/28/2/01/031/4712345678?v=1&a=100"})}, false, 400, codeInvalidPersonalQR, ""},
		{"unknown QR token", []edit{set("customer", map[string]any{"personalQr": "https://qr.vipps.no/p/unknownToken123"})}, false, 400, codeInvalidPersonalQR, ""},
		{"too short personal QR", []edit{set("customer", map[string]any{"personalQr": "abc"})}, true, 400, codeInvalidPersonalQR, ""},
		{"unknown customer token", []edit{set("customer", map[string]any{"customerToken": "ct-nobody"})}, false, 400, codeInvalidCustomerToken, ""},
		{"push without customer", []edit{del("customer")}, false, 400, codeMissingParameter, ""},
		{"web redirect without returnUrl", []edit{del("customer"), set("userFlow", "WEB_REDIRECT")}, false, 400, codeMissingParameter, ""},
		{"http returnUrl", []edit{set("returnUrl", "http://shop.example/back")}, false, 400, codeInvalidURL, ""},
		{"description too short", []edit{set("paymentDescription", "ab")}, true, 400, "", "paymentDescription"},
		{"description too long", []edit{set("paymentDescription", strings.Repeat("d", 101))}, true, 400, "", "paymentDescription"},
		{"card with push", []edit{set("paymentMethod", map[string]any{"type": "CARD"})}, false, 400, "", "paymentMethod.type"},
		{"unknown payment method", []edit{set("paymentMethod", map[string]any{"type": "CASH"})}, true, 400, "", "paymentMethod.type"},
		{"blocked sources in Norway", []edit{set("paymentMethod", map[string]any{"type": "WALLET", "blockedSources": []string{"COMMERCIAL_CARDS"}})}, false, 400, codeBlockedSources, ""},
		{"unknown user flow", []edit{set("userFlow", "SMS")}, true, 400, "", "userFlow"},
		{"unknown interaction", []edit{set("customerInteraction", "MAYBE")}, true, 400, "", "customerInteraction"},
		{"long-living", []edit{set("expiresAt", "2026-03-03T10:00:00Z"), set("receipt", testReceipt())}, false, 400, codeLongLivingNotAllowed, ""},
		{"bad expiresAt", []edit{set("expiresAt", "tomorrow")}, true, 400, "", "expiresAt"},
		{"bad scope", []edit{set("profile", map[string]any{"scope": "name shoeSize"})}, false, 400, codeInvalidScope, ""},
		{"too much metadata", []edit{set("metadata", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"})}, true, 400, codeMetadataCapacity, ""},
		{"long metadata value", []edit{set("metadata", map[string]string{"a": strings.Repeat("v", 501)})}, false, 400, codeMetadataValueLength, ""},
		{"bad receipt", []edit{set("receipt", map[string]any{"orderLines": []any{}, "bottomLine": map[string]any{"currency": "NOK"}})}, true, 400, "", "receipt.orderLines"},
		{"minimum age out of range", []edit{set("minimumUserAge", 101)}, true, 400, "", "minimumUserAge"},
		{"not JSON", []edit{func(b map[string]any) { b["\x00raw"] = "{" }}, true, 400, "", "body"},
		{"reference exists", []edit{set("reference", "existing-ref-1")}, false, 409, codeReferenceExists, ""},
		{"ineligible phone", []edit{set("customer", phone("4798765432"))}, false, 400, codeCustomerNotFound, ""},
		{"seeded non-user", []edit{set("customer", phone("4700000000"))}, false, 400, codeCustomerNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := g.sub(t)
			b := createBody(fmt.Sprintf("valid-ref-%04d", i), 1000, phone("4712345678"))
			for _, e := range tc.edits {
				e(b)
			}
			var body any = b
			if _, ok := b["\x00raw"]; ok {
				body = `{"amount":`
			}
			var r res
			if tc.raw {
				r = g.rawCall("POST", "/epayment/v1/payments", body, "Idempotency-Key", newKey())
			} else {
				r = g.call("POST", "/epayment/v1/payments", body, "Idempotency-Key", newKey())
			}
			if tc.field != "" {
				r.wantField(tc.field)
			} else {
				r.wantError(tc.status, tc.code)
			}
		})
	}
	if n := len(g.sim.Payments()); n != 1 {
		t.Fatalf("%d payments after refused creates, want 1", n)
	}
}

func TestCreateMinimumPerCurrency(t *testing.T) {
	g := newRig(t, Options{Currency: epayment.DKK})
	b := createBody("dkk-ref-00001", 1, phone("4520123456"))
	b["amount"] = map[string]any{"currency": "DKK", "value": 1}
	g.call("POST", "/epayment/v1/payments", b, "Idempotency-Key", newKey()).want(http.StatusCreated)
	b = createBody("dkk-ref-00002", 0, phone("4520123456"))
	b["amount"] = map[string]any{"currency": "DKK", "value": 0}
	g.call("POST", "/epayment/v1/payments", b, "Idempotency-Key", newKey()).wantError(http.StatusBadRequest, codeAmountTooSmall)
	g.call("POST", "/epayment/v1/payments", createBody("dkk-ref-00003", 1000, phone("4520123456")), "Idempotency-Key", newKey()).wantError(http.StatusBadRequest, codeInvalidCurrency)
}

func TestCreatePushDisabled(t *testing.T) {
	g := newRig(t, Options{PushDisabled: true})
	g.call("POST", "/epayment/v1/payments", createBody("push-off-ref1", 1000, phone("4712345678")), "Idempotency-Key", newKey()).
		wantError(http.StatusForbidden, codePushNotAllowed)
	// Other flows still work.
	b := createBody("push-off-ref2", 1000, nil)
	b["userFlow"] = "QR"
	g.call("POST", "/epayment/v1/payments", b, "Idempotency-Key", newKey()).want(http.StatusCreated)
}

func TestCreateWithPersonalQR(t *testing.T) {
	g := newRig(t, Options{})
	for _, tc := range []struct{ qr, phone string }{
		{"https://qr.vipps.no/28/2/01/031/4712345678?v=1", "4712345678"},
		{"https://qr.vipps.no/28/2/05/031/4791234567?v=1", "4791234567"},
		{"https://qr.vipps.no/p/Dk9Mp2Xc7Vb4Nq1W", "4520123456"}, // tokenised (MobilePay)
	} {
		ref := "pqr-" + tc.phone
		g.call("POST", "/epayment/v1/payments", createBody(ref, 1000, map[string]any{"personalQr": tc.qr}), "Idempotency-Key", newKey()).want(http.StatusCreated)
		if got := g.info(ref).PhoneNumber; got != tc.phone {
			t.Fatalf("%s resolved to %q, want %s", tc.qr, got, tc.phone)
		}
	}
	// A user added at run time through the control API.
	g.call("POST", "/sim/users", map[string]any{"phoneNumber": "4799887766", "token": "NewUserToken42"}).want(http.StatusCreated)
	g.call("POST", "/epayment/v1/payments", createBody("pqr-added-user", 1000, map[string]any{"personalQr": "https://qr.vipps.no/p/NewUserToken42"}), "Idempotency-Key", newKey()).want(http.StatusCreated)
	if got := g.info("pqr-added-user").PhoneNumber; got != "4799887766" {
		t.Fatalf("added user's token resolved to %q", got)
	}
	// A customer token.
	g.call("POST", "/epayment/v1/payments", createBody("ctok-ref-0001", 1000, map[string]any{"customerToken": "ct-1a2b3c4d5e"}), "Idempotency-Key", newKey()).want(http.StatusCreated)
	if got := g.info("ctok-ref-0001").PhoneNumber; got != "4791234567" {
		t.Fatalf("customer token resolved to %q", got)
	}
}

// AddUserForTest adds a user straight into the simulator.
func (g *rig) AddUserForTest(u User) { g.sim.AddUser(u) }

func testReceipt() map[string]any {
	return map[string]any{
		"orderLines": []any{map[string]any{
			"name": "Socks", "id": "sku-1", "totalAmount": 1000, "totalAmountExcludingTax": 800,
			"totalTaxAmount": 200, "taxRate": 2500,
			"unitInfo": map[string]any{"unitPrice": 500, "quantity": "2", "quantityUnit": "PCS"},
		}},
		"bottomLine": map[string]any{"currency": "NOK", "posId": "till-4", "receiptNumber": "0001234"},
	}
}
