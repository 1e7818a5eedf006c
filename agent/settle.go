package agent

import (
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/store"
)

// Settling applies what ePayment says of a payment — a GET, or the answer of
// a capture, cancel or refund — to its sale. Answers may arrive in any order
// (a poll started before a capture can finish after it) and more than once
// (webhooks repeat), so settling only moves forward: each aggregate amount
// only grows, and a final ePayment state never goes back to CREATED. The
// sale's state is then derived from the merged facts.

// settleLogged settles and logs a failure to. doneCmd (if not 0) is the
// command the answer completes; cause is why it was refused, if it was.
func (a *Agent) settleLogged(ref string, p *epayment.Payment, doneCmd uint64, cause error) {
	if err := a.settle(ref, p, doneCmd, cause); err != nil {
		a.log.Error("settle", "reference", ref, "err", err)
	}
}

func (a *Agent) settle(ref string, p *epayment.Payment, doneCmd uint64, cause error) error {
	now := a.clock.Now()
	if doneCmd == 0 && cause == nil {
		// Most polls find nothing new: then there is nothing to commit.
		var unchanged bool
		var st State
		err := a.db.View(func(tx *store.Tx) error {
			s, err := tx.Sale(ref)
			if err != nil {
				return err
			}
			cmds, err := tx.CommandsFor(ref)
			if err != nil {
				return err
			}
			was := *s
			merge(s, p)
			pl := plan(s, cmds)
			st = pl.state
			unchanged = s.VippsState == was.VippsState && s.Aggregate == was.Aggregate && s.PSPReference == was.PSPReference &&
				!pl.capture && !pl.createDone && pl.state == State(was.State)
			return nil
		})
		if err == nil && unchanged {
			if st == AwaitingApproval {
				a.pollAt(ref, now.Add(a.opts.PollEvery))
			}
			return nil
		}
	}
	_, err := a.modify(ref, func(tx *store.Tx, s *store.Sale) error {
		doneKind := ""
		if doneCmd != 0 {
			c, err := tx.TakeCommand(doneCmd)
			if err != nil {
				return err
			}
			doneKind = c.Kind
			if doneKind == cmdRefund {
				noteRefundOutcome(s, c.ID, cause == nil)
			}
		}
		// A refused capture or refund is news for the POS. A refused cancel
		// is not: the payment's state (captured, or already ended) is the
		// answer, and it is settled below.
		if cause != nil && doneKind != cmdCancel {
			s.ErrorCode = epayment.ErrorCode(cause)
			s.ErrorMessage = cashierMessage(s.ErrorCode, epayment.StatusCode(cause))
		}
		merge(s, p)
		cmds, err := tx.CommandsFor(ref)
		if err != nil {
			return err
		}
		pl := plan(s, cmds)
		if pl.createDone {
			// The payment exists: the create is done, whatever its answer was.
			for _, c := range cmds {
				if c.Kind == cmdCreate {
					if err := tx.DeleteCommand(c.ID); err != nil {
						return err
					}
				}
			}
			if s.SentAt.IsZero() {
				s.SentAt = now
			}
		}
		if pl.capture {
			if err := a.enqueue(tx, ref, cmdCapture, &epayment.ModificationRequest{
				ModificationAmount: epayment.Amount{Currency: epayment.Currency(s.Currency), Value: s.Aggregate.Authorized}}, time.Time{}, now); err != nil {
				return err
			}
		}
		s.State = string(pl.state)
		if pl.state == AwaitingApproval {
			a.schedulePoll(tx, ref, now.Add(a.opts.PollEvery))
		} else {
			a.unschedulePoll(tx, ref)
		}
		return nil
	})
	return err
}

// settlement is what settling a sale does, decided from the sale (with the
// answer merged in) and its queued commands.
type settlement struct {
	state      State
	capture    bool // queue a capture of the authorised amount
	createDone bool // the payment exists: drop the queued create
}

func plan(s *store.Sale, cmds []store.Command) settlement {
	if State(s.State) == Failed || State(s.State) == Abandoned {
		return settlement{state: State(s.State)} // no payment of ours exists
	}
	var capturing, cancelling, creating bool
	for _, c := range cmds {
		switch c.Kind {
		case cmdCapture:
			capturing = true
		case cmdCancel:
			cancelling = true
		case cmdCreate:
			creating = true
		}
	}
	pl := settlement{createDone: creating && s.VippsState != ""}
	pay := &epayment.Payment{State: epayment.State(s.VippsState), Aggregate: aggregateOf(s)}
	pl.state = stateOfPayment(pay, s.Amount, capturing)
	// Capture at once, unless the POS captures, a cancel is on its way, or
	// a capture was refused for good (its error stays on the sale for the
	// POS; capturing again would be refused again).
	if pl.state == Authorized && !s.ManualCapture && !cancelling && s.ErrorCode == "" && s.Aggregate.Captured == 0 && s.Aggregate.Cancelled == 0 {
		pl.capture, pl.state = true, Capturing
	}
	return pl
}

// merge folds an answer of ePayment into the sale without going back.
func merge(s *store.Sale, p *epayment.Payment) {
	if p.State != "" && (s.VippsState == "" || s.VippsState == string(epayment.StateCreated)) {
		s.VippsState = string(p.State)
	}
	if p.PSPReference != "" {
		s.PSPReference = p.PSPReference
	}
	ag := p.Aggregate
	s.Aggregate.Authorized = max(s.Aggregate.Authorized, ag.AuthorizedAmount.Value)
	s.Aggregate.Captured = max(s.Aggregate.Captured, ag.CapturedAmount.Value)
	s.Aggregate.Refunded = max(s.Aggregate.Refunded, ag.RefundedAmount.Value)
	s.Aggregate.Cancelled = max(s.Aggregate.Cancelled, ag.CancelledAmount.Value)
}

func aggregateOf(s *store.Sale) epayment.Aggregate {
	c := epayment.Currency(s.Currency)
	return epayment.Aggregate{
		AuthorizedAmount: epayment.Amount{Currency: c, Value: s.Aggregate.Authorized},
		CapturedAmount:   epayment.Amount{Currency: c, Value: s.Aggregate.Captured},
		RefundedAmount:   epayment.Amount{Currency: c, Value: s.Aggregate.Refunded},
		CancelledAmount:  epayment.Amount{Currency: c, Value: s.Aggregate.Cancelled},
	}
}

// noteRefundOutcome records on the refund sent by command cmd whether
// Vipps MobilePay made it (the command succeeded) or refused it.
func noteRefundOutcome(s *store.Sale, cmd uint64, made bool) {
	for i := range s.Refunds {
		if s.Refunds[i].Command == cmd {
			s.Refunds[i].Outcome = store.RefundRefused
			if made {
				s.Refunds[i].Outcome = store.RefundMade
			}
		}
	}
}
