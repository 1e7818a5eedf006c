package agent

import "github.com/tillbox/tillbox/agent/epayment"

// State is where a sale stands, as the POS and the display see it.
type State string

// The states of a sale (issue 3 §2). The comment says what happens next.
const (
	// WaitingForCustomer: the POS sent the sale without a customer; the
	// display asks for a scan. Abandoned when none comes within the
	// customer-present window.
	WaitingForCustomer State = "waiting_for_customer"
	// Queued: the createPayment is in the outbox and has not reached Vipps
	// MobilePay yet (offline, or about to be sent).
	Queued State = "queued"
	// Requested: the createPayment was sent but its outcome is unknown (no
	// answer, a 5xx); it is repeated with the same key or settled from GET.
	Requested State = "requested"
	// AwaitingApproval: the payment exists; the customer confirms in the app.
	AwaitingApproval State = "awaiting_approval"
	// Authorized: the customer approved; the amount is reserved.
	Authorized State = "authorized"
	// Capturing: a capture is queued or under way.
	Capturing State = "capturing"
	// Completed: the amount is captured (see the aggregate for how much).
	Completed State = "completed"
	// Declined: the customer rejected the payment in the app.
	Declined State = "declined"
	// Expired: the customer did not act in time.
	Expired State = "expired"
	// Cancelled: the merchant cancelled before capture.
	Cancelled State = "cancelled"
	// PartiallyRefunded: part of the captured amount was refunded; the
	// rest can still be (aggregate.captured - aggregate.refunded).
	PartiallyRefunded State = "partially_refunded"
	// Refunded: all of the captured amount was refunded.
	Refunded State = "refunded"
	// Failed: Vipps MobilePay refused the payment; the error code and a
	// message a cashier understands say why.
	Failed State = "failed"
	// Abandoned: the createPayment could not be sent within the
	// customer-present window, so it never will be.
	Abandoned State = "abandoned"
)

// States lists every state, in the order of a sale's life.
var States = []State{WaitingForCustomer, Queued, Requested, AwaitingApproval, Authorized, Capturing,
	Completed, Declined, Expired, Cancelled, PartiallyRefunded, Refunded, Failed, Abandoned}

// Outcome reports whether the state is a result the POS acts on: the
// customer paid, or the sale ended without payment.
func (s State) Outcome() bool {
	switch s {
	case Completed, Declined, Expired, Cancelled, PartiallyRefunded, Refunded, Failed, Abandoned:
		return true
	}
	return false
}

// pending reports whether the customer is in the middle of paying: a new
// scan must not take this sale over.
func (s State) pending() bool {
	switch s {
	case Queued, Requested, AwaitingApproval, Authorized, Capturing:
		return true
	}
	return false
}

// cashierMessage turns a Vipps error code into words for the cashier
// (FACTS.md §4–§6). The code itself is kept beside it for support.
func cashierMessage(code string, status int) string {
	switch code {
	case "4060":
		return "The scanned code is not a Vipps MobilePay personal QR code. Ask the customer to show the QR code in their app."
	case "4070":
		return "The phone number is not valid. Check it and try again."
	case "7010":
		return "This customer cannot pay with Vipps MobilePay here. Ask for another means of payment."
	case "4050":
		return "The customer token has expired. Ask the customer to scan again."
	case "5040":
		return "The currency does not match this shop's Vipps MobilePay account."
	case "5080":
		return "This shop's Vipps MobilePay account may not send payment requests to the customer's phone (push). Contact support."
	case "6010":
		return "The amount is below the smallest amount Vipps MobilePay accepts."
	case "4040":
		return "The amount is not valid for Vipps MobilePay."
	case "4150":
		return "A payment with this reference exists already."
	case "6090":
		return "Capture is more than the customer approved."
	case "6150":
		return "Refund is more than what was captured."
	case "6260":
		return "The customer's reservation has lapsed: the money can no longer be captured."
	}
	switch {
	case status == 401 || status == 403:
		return "Vipps MobilePay refused this box's credentials. A technician must check the settings."
	case status >= 500:
		return "Vipps MobilePay had an error."
	}
	return "Vipps MobilePay refused the payment."
}

// stateOfPayment maps what ePayment reports to the sale's state, given the
// sale's amount. pendingCapture tells whether a capture command is queued.
func stateOfPayment(p *epayment.Payment, amount int64, pendingCapture bool) State {
	switch p.State {
	case epayment.StateCreated:
		return AwaitingApproval
	case epayment.StateAborted:
		return Declined
	case epayment.StateExpired:
		return Expired
	case epayment.StateTerminated:
		return Cancelled
	}
	ag := p.Aggregate
	switch {
	case ag.RefundedAmount.Value > 0 && ag.RefundedAmount.Value >= ag.CapturedAmount.Value:
		return Refunded
	case ag.RefundedAmount.Value > 0:
		return PartiallyRefunded
	case ag.CapturedAmount.Value >= amount:
		return Completed
	case pendingCapture:
		return Capturing
	case ag.CapturedAmount.Value > 0 && ag.CapturedAmount.Value+ag.CancelledAmount.Value >= ag.AuthorizedAmount.Value:
		return Completed // partly captured, the rest released
	case ag.CancelledAmount.Value > 0 && ag.CapturedAmount.Value == 0:
		return Cancelled
	}
	return Authorized
}

// endedUnpaid reports whether the sale ended with no money taken: a cancel
// of it has nothing left to do.
func (s State) endedUnpaid() bool {
	switch s {
	case Declined, Expired, Cancelled, Failed, Abandoned:
		return true
	}
	return false
}

// captured reports whether money was taken: such a sale is refunded, not
// cancelled.
func (s State) captured() bool {
	return s == Completed || s == PartiallyRefunded || s == Refunded
}
