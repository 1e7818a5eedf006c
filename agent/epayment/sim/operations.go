package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/tillbox/tillbox/agent/epayment"
)

// The operations on an existing payment (FACTS.md §3, §5): get, event log,
// cancel, capture, refund and the test environment's force approve.

// pathReference reads and checks the {reference} of the path.
func (c *call) pathReference() (string, *reply) {
	ref := c.r.PathValue("reference")
	if !referencePattern.MatchString(ref) {
		return "", c.invalid(field{"reference", "The reference must match the regular expression '" + referencePatternDesc + "'."})
	}
	return ref, nil
}

// handleGet is GET /epayment/v1/payments/{reference}.
func (s *Server) handleGet(c *call) *reply {
	ref, rep := c.pathReference()
	if rep != nil {
		return rep
	}
	if rep := s.rateLimit(c, ref); rep != nil {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[payKey{c.msn, ref}]
	if p == nil {
		return c.notFound("No payment with this reference for this sales unit.")
	}
	return jsonReply(http.StatusOK, ctJSON, p.view())
}

// handleEvents is GET /epayment/v1/payments/{reference}/events.
func (s *Server) handleEvents(c *call) *reply {
	ref, rep := c.pathReference()
	if rep != nil {
		return rep
	}
	if rep := s.rateLimit(c, ref); rep != nil {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[payKey{c.msn, ref}]
	if p == nil {
		return c.notFound("No payment with this reference for this sales unit.")
	}
	return jsonReply(http.StatusOK, ctJSON, slices.Clone(p.events))
}

// modify runs a cancel, capture or refund: rate limit, idempotency, then apply
// on the payment, under the lock.
func (s *Server) modify(c *call, apply func(*payment) *reply) *reply {
	ref, rep := c.pathReference()
	if rep != nil {
		return rep
	}
	if rep := s.rateLimit(c, ref); rep != nil {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rep := s.replay(c, ref); rep != nil {
		return rep
	}
	if p := s.payments[payKey{c.msn, ref}]; p == nil {
		rep = c.notFound("No payment with this reference for this sales unit.")
	} else {
		rep = apply(p)
	}
	s.remember(c, ref, rep)
	return rep
}

// modified is the 200 answer of cancel, capture and refund. The spec declares
// it as application/problem+json, a quirk (FACTS.md §3); like the real API the
// simulator answers application/json, which clients must accept either way.
func modified(p *payment) *reply {
	return jsonReply(http.StatusOK, ctJSON, p.modification())
}

// decodeModification reads {modificationAmount} of a capture or refund.
func (c *call) decodeModification(p *payment) (int64, *reply) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(c.body, &raw); err != nil {
		return 0, c.invalid(field{"body", "The request body is not a valid JSON object."})
	}
	if !present(raw, "modificationAmount") {
		return 0, c.invalid(field{"modificationAmount", "The modificationAmount field is required."})
	}
	var am map[string]json.RawMessage
	if json.Unmarshal(raw["modificationAmount"], &am) == nil {
		if v, ok := am["value"]; ok && isNonIntegerNumber(v) {
			return 0, c.domainError(http.StatusBadRequest, codeInvalidAmount, "Invalid amount",
				"The amount must be an integer number of minor units, without decimals.")
		}
	}
	var req epayment.ModificationRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		return 0, c.invalid(typeErrorField(err))
	}
	if !present(am, "value") {
		return 0, c.invalid(field{"modificationAmount.value", "The value field is required."})
	}
	if req.ModificationAmount.Currency != p.amount.Currency {
		return 0, c.invalid(field{"modificationAmount.currency", "The currency must be the payment's currency, " + string(p.amount.Currency) + "."})
	}
	if v := req.ModificationAmount.Value; v <= 0 || v > epayment.MaxAmount {
		return 0, c.domainError(http.StatusBadRequest, codeInvalidAmount, "Invalid amount",
			"The amount must be a positive number of minor units.")
	}
	return req.ModificationAmount.Value, nil
}

// handleCapture is POST /epayment/v1/payments/{reference}/capture.
func (s *Server) handleCapture(c *call) *reply {
	return s.modify(c, func(p *payment) *reply {
		v, rep := c.decodeModification(p)
		if rep != nil {
			return rep
		}
		switch p.state {
		case epayment.StateCreated:
			return c.domainError(http.StatusBadRequest, codeCaptureBeforeReserve, "Cannot capture before reservation",
				"The amount you tried to capture is not reserved. The user must accept the payment before capture can be done.")
		case epayment.StateAborted, epayment.StateExpired, epayment.StateTerminated:
			return c.domainError(http.StatusBadRequest, codeCannotCapture, "Payment cannot be captured",
				"The payment is "+string(p.state)+".")
		}
		if p.cancelled > 0 && p.uncaptured() == 0 {
			return c.domainError(http.StatusBadRequest, codeCaptureCancelled, "Cannot capture a cancelled payment",
				"The reservation was cancelled.")
		}
		if v > p.uncaptured() {
			return c.domainError(http.StatusBadRequest, codeCaptureTooHigh, "Capture amount too high",
				"The total captured amount cannot exceed the authorized amount.")
		}
		p.captured += v
		p.ops.Capture++
		s.record(p, epayment.EventCaptured, v, c.idemKey, true)
		return modified(p)
	})
}

// Magic refund amounts of the test environment (FACTS.md §10).
const (
	magicRefundNoAccount = 123 // the user is deleted or has no account
	magicRefundExpired   = 124 // the refund period has expired
)

// handleRefund is POST /epayment/v1/payments/{reference}/refund.
func (s *Server) handleRefund(c *call) *reply {
	return s.modify(c, func(p *payment) *reply {
		v, rep := c.decodeModification(p)
		if rep != nil {
			return rep
		}
		switch p.state {
		case epayment.StateCreated:
			return c.domainError(http.StatusBadRequest, codeRefundBeforeReserve, "Attempted refund before reservation",
				"The payment has not been authorized.")
		case epayment.StateAborted, epayment.StateExpired, epayment.StateTerminated:
			return c.domainError(http.StatusBadRequest, codeCannotRefund, "Payment cannot be refunded",
				"The payment is "+string(p.state)+".")
		}
		if v > p.captured-p.refunded {
			return c.domainError(http.StatusBadRequest, codeNotEnoughRefundable, "Not enough refundable",
				"Cannot refund more than the captured amount that is not already refunded.")
		}
		switch v {
		case magicRefundNoAccount:
			s.record(p, epayment.EventRefunded, v, c.idemKey, false)
			return c.domainError(http.StatusBadRequest, codeRefundNotPossible, "Refund not possible",
				"The customer's account no longer exists (test amount 123).")
		case magicRefundExpired:
			s.record(p, epayment.EventRefunded, v, c.idemKey, false)
			return c.domainError(http.StatusBadRequest, codeRefundPeriodExpired, "Refund period expired",
				"The refund period has expired (test amount 124).")
		}
		p.refunded += v
		p.ops.Refund++
		s.record(p, epayment.EventRefunded, v, c.idemKey, true)
		return modified(p)
	})
}

// handleCancel is POST /epayment/v1/payments/{reference}/cancel.
func (s *Server) handleCancel(c *call) *reply {
	return s.modify(c, func(p *payment) *reply {
		var req epayment.CancelRequest
		if len(bytes.TrimSpace(c.body)) > 0 {
			if err := json.Unmarshal(c.body, &req); err != nil {
				return c.invalid(typeErrorField(err))
			}
		}
		switch p.state {
		case epayment.StateCreated:
			if p.authorising(s.now()) {
				return c.domainError(http.StatusBadRequest, codeCancelProcessing, "Cannot cancel processing payment",
					"The customer is approving the payment right now. GET the payment shortly: it will be AUTHORIZED or ABORTED.")
			}
			// Merchant cancel before authorisation: TERMINATED, and the whole
			// amount counts as cancelled.
			p.state = epayment.StateTerminated
			p.cancelled = p.amount.Value
			p.stopTimers()
			p.ops.Cancel++
			s.record(p, epayment.EventTerminated, p.amount.Value, c.idemKey, true)
			return modified(p)
		case epayment.StateAuthorized:
			if req.CancelTransactionOnly {
				return c.domainError(http.StatusBadRequest, codeCancelAuthorized, "Cannot cancel authorized payment",
					"cancelTransactionOnly was set and the payment is already authorized.")
			}
			release := p.uncaptured()
			if release == 0 {
				if p.captured == p.authorized {
					return c.domainError(http.StatusBadRequest, codeCancelCaptured, "Cannot cancel a captured payment",
						"The payment is fully captured. Refund it instead.")
				}
				return modified(p) // already cancelled: nothing left to release
			}
			p.cancelled += release
			p.ops.Cancel++
			s.record(p, epayment.EventCancelled, release, c.idemKey, true)
			return modified(p)
		}
		return c.domainError(http.StatusBadRequest, codeCannotCancel, "Payment cannot be cancelled",
			"The payment is "+string(p.state)+".")
	})
}

// handleForceApprove is POST /epayment/v1/test/payments/{reference}/approve:
// the test environment's way to approve without the app, with {customer} (the
// payment's customer, or anyone for a payment without one) or {token} (the
// token of the create answer's redirectUrl). 200 without a body.
func (s *Server) handleForceApprove(c *call) *reply {
	ref, rep := c.pathReference()
	if rep != nil {
		return rep
	}
	var req epayment.ForceApproveRequest
	if len(bytes.TrimSpace(c.body)) > 0 {
		if err := json.Unmarshal(c.body, &req); err != nil {
			return c.invalid(typeErrorField(err))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[payKey{c.msn, ref}]
	if p == nil {
		return c.notFound("No payment with this reference for this sales unit.")
	}
	notAllowed := func(detail string) *reply {
		return c.domainError(http.StatusBadRequest, codeApproveNotAllowed, "Approve not allowed", detail)
	}
	switch p.state {
	case epayment.StateCreated:
	case epayment.StateAuthorized:
		return c.domainError(http.StatusBadRequest, codeAlreadyReserved, "Payment is already reserved", "The payment is already authorized.")
	default:
		return notAllowed("The payment is " + string(p.state) + ".")
	}
	var phone string
	switch {
	case req.Customer != nil:
		if countCustomerFields(req.Customer) != 1 {
			return c.invalid(field{"customer", "Exactly one of phoneNumber, personalQr or customerToken is required."})
		}
		var rep *reply
		if phone, rep = s.resolveCustomer(c, req.Customer); rep != nil {
			return rep
		}
		if !s.users.eligible(phone) {
			return c.domainError(http.StatusBadRequest, codeCustomerNotFound, "Customer not found", "The customer cannot pay.")
		}
		if p.phone != "" && phone != p.phone {
			return notAllowed("The payment request was sent to another customer.")
		}
	case req.Token != "":
		if req.Token != p.token {
			return notAllowed("The token is not this payment's.")
		}
	default:
		return c.invalid(field{"customer", "Either customer or token is required."})
	}
	if p.amount.Value == magicUnknownOutcome {
		return c.domainError(http.StatusBadRequest, codeApproveFailed, "Approve failed", "The result is unknown (test amount 201).")
	}
	if magicApprovalFails[p.amount.Value] {
		s.abort(p)
		return c.domainError(http.StatusBadRequest, codeApproveFailed, "Approve failed", "The approval failed (magic test amount).")
	}
	if p.phone == "" {
		p.phone = phone
	}
	s.authorize(p)
	return emptyReply(http.StatusOK)
}
