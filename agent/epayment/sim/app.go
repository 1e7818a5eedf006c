package sim

import (
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

// The simulated customer app. When a payment is created, the app of its
// customer acts on it by the policy found first for its reference, its phone
// number, or the default, after the policy's delay by the simulator's clock:
// Approve authorises it, Reject aborts it, Ignore lets it expire after 10
// minutes. The policy is read when the payment is created; a policy set later
// for its reference (SetApp "ref:…", POST /sim/app {"reference"}) replaces the
// pending decision of a payment still CREATED, its delay counted from then. The
// app acts on every user flow (for QR and redirect flows, think of a customer
// who scans or opens the link). Force approve (the test environment's
// endpoint) works whatever the policy.
//
// Mid-authorisation: during the last authorisingWindow (100 ms of simulated
// time) before the app approves, the customer is taken to be confirming the
// payment in the app, and a cancel of the still CREATED payment is refused
// with 6250 "cannot cancel processing payment" (FACTS.md §5). When the delay
// is shorter than the window, the whole delay counts. Force approve is
// instantaneous and has no such window.
//
// Magic test amounts (FACTS.md §10) are honoured when the customer approves,
// with a simplification: 151, 182, 183, 184, 186, 187, 197 and 202 make the
// approval fail and the payment ends ABORTED (the real test environment shows
// the user an error and leaves the outcome to them); 201 is an unknown result:
// the app's answer never arrives, the payment stays CREATED for 1 hour instead
// of 10 minutes, then expires.

type appPolicies struct {
	initial AppPolicy
	def     AppPolicy
	byPhone map[string]AppPolicy
	byRef   map[string]AppPolicy
}

func newAppPolicies(def AppPolicy) appPolicies {
	return appPolicies{initial: def, def: def, byPhone: map[string]AppPolicy{}, byRef: map[string]AppPolicy{}}
}

func (a *appPolicies) policyFor(reference, phone string) AppPolicy {
	if p, ok := a.byRef[reference]; ok {
		return p
	}
	if p, ok := a.byPhone[phone]; ok && phone != "" {
		return p
	}
	return a.def
}

// SetApp sets how the simulated customer app answers payment requests. target
// is "" for the default, a phone number (MSISDN, matching ^\d{9,15}$) for
// that customer, or a payment reference (prefix it with "ref:" when the
// reference itself looks like a phone number). A policy whose Action is zero
// removes the phone or reference override, or restores the default of
// Options.App.
//
// Default and phone policies apply to payments created from now on. A
// reference policy also applies at once to a payment with that reference that
// is still CREATED: its pending decision is replaced, and the app acts after
// the policy's delay counted from now (Ignore: not at all; the payment
// expires as before).
func (s *Server) SetApp(target string, p AppPolicy) {
	if p.Delay < 0 {
		p.Delay = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ref, isRef := strings.CutPrefix(target, "ref:"); {
	case target == "":
		if p.Action == 0 {
			p = s.app.initial
		}
		s.app.def = p
	case !isRef && phonePattern.MatchString(target):
		if p.Action == 0 {
			delete(s.app.byPhone, target)
		} else {
			s.app.byPhone[target] = p
		}
	default:
		if p.Action == 0 {
			delete(s.app.byRef, ref)
		} else {
			s.app.byRef[ref] = p
		}
		for _, pay := range s.refs[ref] {
			if pay.state == epayment.StateCreated && pay.amount.Value != magicUnknownOutcome {
				s.scheduleApp(pay, s.app.policyFor(ref, pay.phone))
			}
		}
	}
}

// magicApprovalFails lists the test amounts whose approval fails (FACTS.md §10):
// insufficient funds, refused by issuer, suspected fraud, withdrawal limit,
// expired card, invalid card, 3DS denied, SCA required.
var magicApprovalFails = map[int64]bool{151: true, 182: true, 183: true, 184: true, 186: true, 187: true, 197: true, 202: true}

// magicUnknownOutcome is the test amount whose result stays unknown for 1 hour.
const magicUnknownOutcome = 201

// authorisingWindow is how long before the app's approval the customer counts
// as mid-authorisation: a cancel then gets 6250.
const authorisingWindow = 100 * time.Millisecond

// authorising reports whether the customer is confirming p in the app at now.
// Must be called with s.mu held.
func (p *payment) authorising(now time.Time) bool {
	return p.state == epayment.StateCreated && p.appAction == Approve && !p.appAt.IsZero() &&
		!now.Before(p.appAt.Add(-authorisingWindow))
}

// startPayment sets the expiry of a new payment and the app's decision on it.
// Must be called with s.mu held.
func (s *Server) startPayment(p *payment) {
	life := paymentLifetime
	if p.amount.Value == magicUnknownOutcome {
		life = unknownOutcomeLifetime
	}
	p.expiresAt = p.createdAt.Add(life)
	p.stopExpiry = s.after(life, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.payments[p.key] == p && p.state == epayment.StateCreated {
			p.stopExpiry = nil
			s.expire(p)
		}
	})
	if p.amount.Value == magicUnknownOutcome {
		return
	}
	s.scheduleApp(p, s.app.policyFor(p.key.reference, p.phone))
}

// scheduleApp replaces the app's pending decision on the CREATED payment p by
// pol, due pol.Delay from now. Must be called with s.mu held.
func (s *Server) scheduleApp(p *payment, pol AppPolicy) {
	if p.stopApp != nil {
		p.stopApp()
		p.stopApp = nil
	}
	p.appGen++
	p.appAction, p.appAt = 0, time.Time{}
	if pol.Action != Approve && pol.Action != Reject {
		return
	}
	gen := p.appGen
	p.appAction, p.appAt = pol.Action, s.now().Add(pol.Delay)
	p.stopApp = s.after(pol.Delay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.payments[p.key] != p || p.state != epayment.StateCreated || p.appGen != gen {
			return
		}
		p.stopApp = nil
		switch {
		case pol.Action == Reject, magicApprovalFails[p.amount.Value]:
			s.abort(p)
		default:
			s.authorize(p)
		}
	})
}
