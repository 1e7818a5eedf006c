package sim

import (
	"slices"
	"time"
)

// Retention (Options.Retention): so that a long soak does not grow without
// bound, a payment in a final state whose last event is older than the
// retention is forgotten, with its idempotency records and the ECOM receipt
// sent inside its create. Idempotency records that name no payment (a refused
// create, an operation on an unknown reference) go once they are older than
// the retention. The sweep runs from createPayment, at most once per eighth of
// the retention (by the simulator's clock), and walks the payments and the
// records once: linear, amortised over many creates.

// maybeSweep runs the retention sweep when it is due. Must be called with
// s.mu held.
func (s *Server) maybeSweep() {
	r := s.opts.Retention
	if r < 0 {
		return
	}
	now := s.now()
	if !s.swept.IsZero() && now.Sub(s.swept) < r/8 {
		return
	}
	s.swept = now
	s.sweep(now.Add(-r))
}

// sweep forgets final payments last active before cutoff, and idempotency
// records given before cutoff whose payment is gone. Must be called with s.mu
// held.
func (s *Server) sweep(cutoff time.Time) {
	for k, p := range s.payments {
		if !p.state.Final() || p.lastActivity().After(cutoff) {
			continue
		}
		p.stopTimers()
		delete(s.payments, k)
		if rest := slices.DeleteFunc(s.refs[k.reference], func(q *payment) bool { return q == p }); len(rest) > 0 {
			s.refs[k.reference] = rest
		} else {
			delete(s.refs, k.reference)
		}
		delete(s.orders, orderKey{k.msn, "ECOM", k.reference})
	}
	for k, rec := range s.idem {
		if rec.at.After(cutoff) || s.payments[payKey{k.msn, rec.reference}] != nil {
			continue
		}
		delete(s.idem, k)
	}
}
