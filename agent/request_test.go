package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// TestSaleRequestValidation: each rule names its field, and nothing is written.
func TestSaleRequestValidation(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	ok := func() agent.SaleRequest {
		return agent.SaleRequest{Reference: "valid-ref-1", Amount: 10000, Currency: "NOK", Description: "Kjøp",
			Customer: &agent.Customer{PersonalQR: vippsQR}}
	}
	for _, c := range []struct {
		name, field string
		edit        func(*agent.SaleRequest)
	}{
		{"amount below NOK minimum", "amount", func(q *agent.SaleRequest) { q.Amount = 99 }},
		{"amount zero", "amount", func(q *agent.SaleRequest) { q.Amount = 0 }},
		{"amount negative", "amount", func(q *agent.SaleRequest) { q.Amount = -100 }},
		{"amount above max", "amount", func(q *agent.SaleRequest) { q.Amount = 65_000_001 }},
		{"currency missing", "currency", func(q *agent.SaleRequest) { q.Currency = "" }},
		{"currency of another market", "currency", func(q *agent.SaleRequest) { q.Currency = "DKK" }},
		{"description too short", "description", func(q *agent.SaleRequest) { q.Description = "ab" }},
		{"description too long", "description", func(q *agent.SaleRequest) { q.Description = strings.Repeat("x", 101) }},
		{"reference too short", "reference", func(q *agent.SaleRequest) { q.Reference = "short" }},
		{"reference with space", "reference", func(q *agent.SaleRequest) { q.Reference = "bad ref 123" }},
		{"reference too long", "reference", func(q *agent.SaleRequest) { q.Reference = strings.Repeat("a", 65) }},
		{"both customer fields", "customer", func(q *agent.SaleRequest) {
			q.Customer = &agent.Customer{PersonalQR: vippsQR, PhoneNumber: "4712345678"}
		}},
		{"phone with plus", "customer.phoneNumber", func(q *agent.SaleRequest) { q.Customer = &agent.Customer{PhoneNumber: "+4712345678"} }},
		{"qr too short", "customer.personalQr", func(q *agent.SaleRequest) { q.Customer = &agent.Customer{PersonalQR: "abc"} }},
		{"qr with control bytes", "customer.personalQr", func(q *agent.SaleRequest) { q.Customer = &agent.Customer{PersonalQR: "https://qr\x00.vipps.no"} }},
		{"capture mode", "capture", func(q *agent.SaleRequest) { q.Capture = "later" }},
		{"lines not summing", "lines", func(q *agent.SaleRequest) {
			q.Lines = []agent.Line{{Name: "a", Amount: 5000, TaxRate: 2500}, {Name: "b", Amount: 4000, TaxRate: 2500}}
		}},
		{"line without name", "lines[0].name", func(q *agent.SaleRequest) { q.Lines = []agent.Line{{Amount: 10000}} }},
		{"line tax rate", "lines[0].taxRate", func(q *agent.SaleRequest) { q.Lines = []agent.Line{{Name: "a", Amount: 10000, TaxRate: 10001}} }},
		{"line quantity", "lines[0].quantity", func(q *agent.SaleRequest) {
			q.Lines = []agent.Line{{Name: "a", Amount: 10000, Quantity: "1,5"}}
		}},
	} {
		q := ok()
		c.edit(&q)
		_, err := r.agent.CreateSale(context.Background(), q)
		var ve *agent.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || ve.Reason == "" {
			t.Errorf("%s: %v, want a validation error on %s", c.name, err, c.field)
		}
	}
	if list, err := r.agent.ListSales("", 100); err != nil || len(list) != 0 {
		t.Errorf("refused requests wrote %d sales (%v)", len(list), err)
	}
	// Lines with a return sum with their sign; the valid request passes.
	q := ok()
	q.Lines = []agent.Line{{Name: "Jakke", Amount: 12000, TaxRate: 2500}, {Name: "Retur", Amount: 2000, TaxRate: 2500, IsReturn: true}}
	if _, err := r.agent.CreateSale(context.Background(), q); err != nil {
		t.Errorf("valid request with a return line: %v", err)
	}
}
