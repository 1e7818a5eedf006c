package sim

import (
	"net/http"
	"testing"

	"github.com/tillbox/tillbox/agent/epayment"
)

func omError(t *testing.T, r res, status int) epayment.OMError {
	t.Helper()
	r.want(status)
	if ct := r.Header.Get("Content-Type"); ct != ctJSON {
		t.Fatalf("Order Management error as %q", ct)
	}
	var e epayment.OMError
	r.decode(&e)
	if e.Title == "" || e.Detail == "" || e.Instance == "" {
		t.Fatalf("incomplete Order Management error %s", r.Body)
	}
	return e
}

func TestReceipts(t *testing.T) {
	g := newRig(t, Options{})
	path := "/order-management/v2/ECOM/receipts/om-order-0001"
	r := g.call("POST", path, testReceipt()).want(http.StatusCreated)
	var id string
	r.decode(&id)
	if !uuidPattern.MatchString(id) {
		t.Fatalf("receipt id %q", id)
	}
	// Immutable: a second receipt is 409, whatever it says.
	omError(t, g.call("POST", path, testReceipt()), http.StatusConflict)

	g.call("PUT", "/order-management/v2/ECOM/categories/om-order-0001",
		map[string]any{"category": "GENERAL", "orderDetailsUrl": "https://shop.example/o/1"}).want(http.StatusOK)
	g.call("PUT", "/order-management/v2/ECOM/categories/om-order-0001",
		map[string]any{"category": "RECEIPT", "orderDetailsUrl": "https://shop.example/o/1/receipt", "imageId": "logo-1"}).want(http.StatusOK)

	var o epayment.Order
	g.call("GET", "/order-management/v2/ECOM/om-order-0001", nil).want(http.StatusOK).decode(&o)
	if o.Category == nil || o.Category.Category != "RECEIPT" || o.Category.ImageID != "logo-1" {
		t.Fatalf("category %+v: the last one wins", o.Category)
	}
	if o.Receipt == nil || len(o.Receipt.OrderLines) != 1 || o.Receipt.OrderLines[0].TotalAmount != 1000 || o.Receipt.BottomLine.PosID != "till-4" {
		t.Fatalf("receipt %+v", o.Receipt)
	}
	// paymentType in any case, as the docs write it.
	g.rawCall("GET", "/order-management/v2/ecom/om-order-0001", nil).want(http.StatusOK).decode(&o)
	if o.Receipt == nil {
		t.Fatal("lower-case paymentType does not find the order")
	}
	// RECURRING is another order.
	omError(t, g.call("GET", "/order-management/v2/RECURRING/om-order-0001", nil), http.StatusNotFound)
	omError(t, g.call("GET", "/order-management/v2/ECOM/om-order-none", nil), http.StatusNotFound)
	// Bad token: 401.
	g.call("POST", "/order-management/v2/ECOM/receipts/om-order-0002", testReceipt(), "Authorization", "Bearer nope").want(http.StatusUnauthorized)
}

func TestReceiptValidation(t *testing.T) {
	g := newRig(t, Options{})
	noTax := testReceipt()
	noTax["orderLines"].([]any)[0].(map[string]any)["taxRate"] = nil
	e := omError(t, g.call("POST", "/order-management/v2/ECOM/receipts/om-bad-00001", noTax), http.StatusBadRequest)
	if len(e.InvalidParams) != 1 || e.InvalidParams[0].Name != "orderLines[0].taxRate" {
		t.Fatalf("invalidParams %+v", e.InvalidParams)
	}
	for name, body := range map[string]any{
		"no lines":     map[string]any{"orderLines": []any{}, "bottomLine": map[string]any{"currency": "NOK"}},
		"bad currency": map[string]any{"orderLines": testReceipt()["orderLines"], "bottomLine": map[string]any{"currency": "SEK"}},
		"decimals":     map[string]any{"orderLines": []any{map[string]any{"name": "x", "id": "1", "totalAmount": 10.5, "totalAmountExcludingTax": 8, "totalTaxAmount": 2, "taxRate": 2500}}, "bottomLine": map[string]any{"currency": "NOK"}},
		"no bottom":    map[string]any{"orderLines": testReceipt()["orderLines"]},
	} {
		if e := omError(t, g.rawCall("POST", "/order-management/v2/ECOM/receipts/om-bad-00002", body), http.StatusBadRequest); len(e.InvalidParams) == 0 {
			t.Fatalf("%s: no invalidParams", name)
		}
	}
	omError(t, g.rawCall("POST", "/order-management/v2/ECOM/receipts/bad*order", testReceipt()), http.StatusBadRequest)
	omError(t, g.rawCall("POST", "/order-management/v2/CARD/receipts/om-bad-00003", testReceipt()), http.StatusBadRequest)
	omError(t, g.rawCall("PUT", "/order-management/v2/ECOM/categories/om-bad-00004",
		map[string]any{"category": "GENERAL", "orderDetailsUrl": "https://shop.example", "imageId": "a/b"}), http.StatusBadRequest)
	omError(t, g.rawCall("PUT", "/order-management/v2/ECOM/categories/om-bad-00004",
		map[string]any{"category": "GENERAL", "orderDetailsUrl": "shop.example"}), http.StatusBadRequest)
	omError(t, g.rawCall("PUT", "/order-management/v2/ECOM/categories/om-bad-00004",
		map[string]any{"category": "GIFT", "orderDetailsUrl": "https://shop.example"}), http.StatusBadRequest)
	// Nothing was stored.
	omError(t, g.call("GET", "/order-management/v2/ECOM/om-bad-00002", nil), http.StatusNotFound)
	omError(t, g.call("GET", "/order-management/v2/ECOM/om-bad-00004", nil), http.StatusNotFound)
}

func TestReceiptInsideCreatePayment(t *testing.T) {
	g := newRig(t, Options{})
	b := createBody("om-create-ref1", 1000, phone("4712345678"))
	b["receipt"] = testReceipt()
	g.call("POST", "/epayment/v1/payments", b, "Idempotency-Key", newKey()).want(http.StatusCreated)
	var o epayment.Order
	g.call("GET", "/order-management/v2/ECOM/om-create-ref1", nil).want(http.StatusOK).decode(&o)
	if o.Receipt == nil || o.Receipt.OrderLines[0].Name != "Socks" {
		t.Fatalf("order %+v", o)
	}
	omError(t, g.call("POST", "/order-management/v2/ECOM/receipts/om-create-ref1", testReceipt()), http.StatusConflict)
}
