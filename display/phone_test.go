package display_test

import (
	"context"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/display"
)

// TestPhoneMaskedAlike: the display shows a customer the same way whether
// the cashier typed the phone number (the sale's masked customer, as the
// POS API shows it) or the customer scanned a code that holds it; an
// Icelandic number keeps its three-digit country code (issue 12).
func TestPhoneMaskedAlike(t *testing.T) {
	b := newBox(t, boxOptions{lang: "nb"})
	const msisdn, want = "3541234567", "+354 •••• 567"

	// The cashier types the number: the sale's customer as the agent (and
	// the POS API) masks it.
	s, err := b.agent.CreateSale(context.Background(), agent.SaleRequest{Amount: 100, Currency: "NOK",
		Customer: &agent.Customer{PhoneNumber: msisdn}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Customer == nil || s.Customer.Masked != want {
		t.Errorf("the sale's customer %+v, want %q", s.Customer, want)
	}
	v := waitView(t, b.till, func(v display.View) bool { return v.Amount == 100 })
	if v.Customer != want {
		t.Errorf("typed: the display shows %q, want %q", v.Customer, want)
	}
	if _, err := b.agent.CancelSale(context.Background(), s.Reference); err != nil {
		t.Fatal(err)
	}
	waitView(t, b.till, func(v display.View) bool { return v.Screen == display.Cancelled })

	// The customer scans a code that holds the same number (the display
	// follows the scans: it has shown the sale).
	if res := b.scan("https://qr.vipps.no/28/2/01/031/" + msisdn + "?v=1"); res.Outcome != "held" {
		t.Fatalf("scan: %+v", res)
	}
	v = waitView(t, b.till, func(v display.View) bool { return v.Screen == display.Recognised })
	if v.Customer != want {
		t.Errorf("scanned: the display shows %q, want %q", v.Customer, want)
	}
	if b.logs.Contains(msisdn) {
		t.Errorf("the log holds the customer's phone number")
	}
}

// waitView waits for the till to show a view ok accepts, and returns it.
func waitView(t *testing.T, till *display.Till, ok func(display.View) bool) display.View {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := till.View()
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("the till shows %+v", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
