package display

import "slices"

// Screen is what a display shows, one at a time.
type Screen string

// The screens of the customer display.
const (
	// Idle asks the customer to scan their personal QR code; with an amount
	// when a sale waits for the scan.
	Idle Screen = "idle"
	// Recognised greets the customer whose code was scanned (masked), while
	// the sale is rung up or the payment request is being sent.
	Recognised Screen = "recognised"
	// Confirm shows the amount and asks the customer to confirm in the app,
	// with the time left.
	Confirm Screen = "confirm"
	// Paid: the customer approved the payment.
	Paid Screen = "paid"
	// Declined: the customer rejected the payment, or Vipps MobilePay refused it.
	Declined Screen = "declined"
	// Expired: the customer did not confirm in time.
	Expired Screen = "expired"
	// Cancelled: the cashier cancelled the sale, or it could not be sent in time.
	Cancelled Screen = "cancelled"
	// Unrecognised: the scanned code is not a personal QR code (Reason says
	// what it is).
	Unrecognised Screen = "unrecognised"
	// Offline: the payment request waits for the network.
	Offline Screen = "offline"
)

// Screens lists every screen.
var Screens = []Screen{Idle, Recognised, Confirm, Paid, Declined, Expired, Cancelled, Unrecognised, Offline}

// Languages are the languages of the display; the first is the default.
var Languages = []string{"nb", "da", "fi", "en"}

// ValidLanguage reports whether lang is one of Languages.
func ValidLanguage(lang string) bool { return slices.Contains(Languages, lang) }

// View is everything a display shows: the page renders it and nothing else.
// It never holds a full phone number or a scanned code: Customer is masked
// ("+47 ••• •• 678") or empty (a code that names no one).
type View struct {
	Screen Screen `json:"screen"`
	// Lang is the language of the page: nb, da, fi or en.
	Lang string `json:"lang"`
	// Amount is in minor units (øre, cents) of Currency; 0 when no sale is
	// shown.
	Amount   int64  `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
	Customer string `json:"customer,omitempty"`
	// Reason is why a code was not recognised (device/classify's reason
	// keys), or "failed" when Vipps MobilePay refused a payment.
	Reason string `json:"reason,omitempty"`
	// ExpiresInMs is the time left to confirm, on the Confirm screen, when
	// the view was sent: the page counts down from it on its own clock.
	ExpiresInMs int64 `json:"expiresInMs,omitempty"`
	// Online is false while the box cannot reach Vipps MobilePay.
	Online bool `json:"online"`
}

// same reports whether a display showing v needs no update to show w: the
// time left counts down on the page by itself.
func (v View) same(w View) bool {
	v.ExpiresInMs, w.ExpiresInMs = 0, 0
	return v == w
}

// message is what a display receives: "snapshot" on connect, "change" on
// each change, "keepalive" when nothing changed for a while.
type message struct {
	Type string `json:"type"`
	View *View  `json:"view,omitempty"`
}
