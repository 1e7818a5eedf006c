package epayment

import (
	"context"
	"net/http"
	"net/url"
)

// The ePayment API (FACTS.md §3). Every call that changes a payment takes the
// caller's Idempotency-Key: repeat a call whose outcome is unknown with the
// same key and the same arguments, and the payment changes at most once.

func paymentPath(reference string, rest ...string) string {
	p := "/epayment/v1/payments/" + url.PathEscape(reference)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// CreatePayment asks for a payment (POST /epayment/v1/payments). For an
// in-store push send UserFlow FlowPushMessage, CustomerInteraction
// CustomerPresent and the customer: the whole scanned text as PersonalQR, or
// a typed PhoneNumber.
func (c *Client) CreatePayment(ctx context.Context, idempotencyKey string, req *CreatePaymentRequest) (*CreatePaymentResponse, error) {
	const op = "createPayment"
	if err := checkKey(op, idempotencyKey); err != nil {
		return nil, err
	}
	var out CreatePaymentResponse
	err := c.do(ctx, call{op: op, method: http.MethodPost, path: "/epayment/v1/payments", idemKey: idempotencyKey, in: req, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// GetPayment reads a payment's state and aggregate amounts.
func (c *Client) GetPayment(ctx context.Context, reference string) (*Payment, error) {
	var out Payment
	if err := c.do(ctx, call{op: "getPayment", method: http.MethodGet, path: paymentPath(reference), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// PaymentEvents reads a payment's event log, oldest first.
func (c *Client) PaymentEvents(ctx context.Context, reference string) ([]PaymentEvent, error) {
	var out []PaymentEvent
	if err := c.do(ctx, call{op: "getPaymentEventLog", method: http.MethodGet, path: paymentPath(reference, "events"), out: &out}); err != nil {
		return nil, err
	}
	return out, nil
}

// CancelPayment cancels a payment: before authorisation it ends TERMINATED;
// after it, the uncaptured amount is released. With transactionOnly the
// cancel applies only to a payment not yet authorised (6060 otherwise).
// idempotencyKey may be empty (spec 1.8.1 no longer lists it) but is
// recommended.
func (c *Client) CancelPayment(ctx context.Context, idempotencyKey, reference string, transactionOnly bool) (*ModificationResponse, error) {
	const op = "cancelPayment"
	if idempotencyKey != "" {
		if err := checkKey(op, idempotencyKey); err != nil {
			return nil, err
		}
	}
	var out ModificationResponse
	err := c.do(ctx, call{op: op, method: http.MethodPost, path: paymentPath(reference, "cancel"), idemKey: idempotencyKey,
		in: &CancelRequest{CancelTransactionOnly: transactionOnly}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// CapturePayment captures amount of an authorised payment; partial and
// repeated captures are allowed up to the authorised amount. Check
// Aggregate.CapturedAmount in the answer.
func (c *Client) CapturePayment(ctx context.Context, idempotencyKey, reference string, amount Amount) (*ModificationResponse, error) {
	return c.modify(ctx, "capturePayment", "capture", idempotencyKey, reference, amount)
}

// RefundPayment refunds amount of the captured amount; partial and repeated
// refunds are allowed up to what was captured.
func (c *Client) RefundPayment(ctx context.Context, idempotencyKey, reference string, amount Amount) (*ModificationResponse, error) {
	return c.modify(ctx, "refundPayment", "refund", idempotencyKey, reference, amount)
}

func (c *Client) modify(ctx context.Context, op, verb, idempotencyKey, reference string, amount Amount) (*ModificationResponse, error) {
	if err := checkKey(op, idempotencyKey); err != nil {
		return nil, err
	}
	var out ModificationResponse
	err := c.do(ctx, call{op: op, method: http.MethodPost, path: paymentPath(reference, verb), idemKey: idempotencyKey,
		in: &ModificationRequest{ModificationAmount: amount}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ForceApprove approves a payment as its customer would, in the test
// environment only (POST /epayment/v1/test/payments/{reference}/approve).
func (c *Client) ForceApprove(ctx context.Context, reference string, req *ForceApproveRequest) error {
	return c.do(ctx, call{op: "forceApprove", method: http.MethodPost,
		path: "/epayment/v1/test/payments/" + url.PathEscape(reference) + "/approve", in: req})
}
