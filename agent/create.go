package agent

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/store"
)

// A create (createPayment) goes only within the sale's customer-present
// window: it is marked possibly sent before it goes, abandoned with no call
// once the window has passed, and settled by a GET when it may have reached
// Vipps MobilePay.

// sendCreate sends a createPayment, or abandons it when the
// customer-present window has passed.
func (a *Agent) sendCreate(ctx context.Context, c store.Command, free func()) {
	now := a.clock.Now()
	if !c.NotAfter.IsZero() && now.After(c.NotAfter) {
		if !c.MaybeSent {
			a.abandon(c, a.notSentMessage())
			return
		}
		// It may have reached Vipps MobilePay: never send it again after the
		// window, but find out whether it did.
		a.resolveByGet(ctx, c, nil)
		return
	}
	if !c.MaybeSent && a.cancelledBeforeSent(c) {
		return
	}
	var req epayment.CreatePaymentRequest
	if err := json.Unmarshal(c.Body, &req); err != nil {
		a.log.Error("outbox: unreadable create", "id", c.ID, "err", err)
		return
	}
	wasSent := c.MaybeSent
	if !c.MaybeSent {
		// Mark before sending: after a crash mid-send, the create counts as
		// possibly sent and is settled, not abandoned in silence.
		c.MaybeSent = true
		if err := a.db.Journaled(func(tx *store.Tx) error { return tx.UpdateCommand(&c) }); err != nil {
			a.log.Error("outbox: mark create", "err", err)
			return
		}
	}
	_, err := a.vipps.CreatePayment(ctx, c.IdempotencyKey, &req)
	a.noteCall(err)
	switch {
	case err == nil:
		free()
		a.created(c)
	case ctx.Err() != nil:
		a.log.Info("outbox: parked for the next start", "kind", c.Kind, "reference", c.Reference)
	case retryable(err):
		if noAnswer(err) {
			// The local limit of calls a minute per sale is there to spare
			// Vipps MobilePay's: a call that got no answer is not counted,
			// or a payment request would wait up to a minute after an
			// outage for the probes it made meanwhile (Vipps answers 429,
			// which is honoured, if it did count one).
			a.uncount(c.Reference)
		}
		if (notSent(err) || epayment.IsAuth(err)) && !wasSent {
			// Nothing reached Vipps (the token call failed, no connection),
			// or it answered 401/403: nothing was applied either way.
			c.MaybeSent = false
		}
		free()
		a.retryLater(c, err, c.MaybeSent)
	case epayment.IsConflict(err):
		// The reference exists: an earlier attempt got through.
		a.resolveByGet(ctx, c, err)
	default:
		a.fail(c, err)
	}
}

// cancelledBeforeSent ends a sale the POS cancelled while its create was
// queued and never sent: nothing to ask Vipps MobilePay.
func (a *Agent) cancelledBeforeSent(c store.Command) bool {
	queued := false
	if err := a.db.View(func(tx *store.Tx) error {
		cmds, err := tx.CommandsFor(c.Reference)
		for _, o := range cmds {
			queued = queued || o.Kind == cmdCancel
		}
		return err
	}); err != nil || !queued {
		return false
	}
	done := false
	_, err := a.modify(c.Reference, func(tx *store.Tx, s *store.Sale) error {
		done = false // modify may run this more than once
		if !stillToSend(tx, c, s) {
			return nil
		}
		cmds, err := tx.CommandsFor(s.Reference)
		if err != nil {
			return err
		}
		for _, o := range cmds {
			if o.Kind == cmdCancel {
				done = true
			}
		}
		if !done {
			return nil
		}
		s.State = string(Cancelled)
		return dropCommands(tx, s.Reference)
	})
	if err != nil {
		a.log.Error("outbox: cancel before send", "reference", c.Reference, "err", err)
		return false
	}
	return done
}

// created records that the payment exists and schedules its polling.
func (a *Agent) created(c store.Command) {
	now := a.clock.Now()
	_, err := a.modify(c.Reference, func(tx *store.Tx, s *store.Sale) error {
		if err := tx.DeleteCommand(c.ID); errors.Is(err, store.ErrNotFound) {
			// A GET settled the sale while its create was on its way (and
			// dropped the create): what it found is newer than this answer.
			return nil
		} else if err != nil {
			return err
		}
		if s.SentAt.IsZero() {
			s.SentAt = now
		}
		if st := State(s.State); st == Queued || st == Requested {
			s.State = string(AwaitingApproval)
			s.VippsState = string(epayment.StateCreated)
		}
		a.schedulePoll(tx, s.Reference, now.Add(a.opts.PollDelay))
		return nil
	})
	if err != nil {
		a.log.Error("outbox: record create", "reference", c.Reference, "err", err)
	}
}

// abandon gives up a create that was never sent within the window.
func (a *Agent) abandon(c store.Command, message string) {
	gone := false
	_, err := a.modify(c.Reference, func(tx *store.Tx, s *store.Sale) error {
		gone = false // modify may run this more than once
		// Only a create still queued, for a sale still waiting for it:
		// another send of the same command may have settled it meanwhile.
		if !stillToSend(tx, c, s) {
			gone = true
			return nil
		}
		if err := dropCommands(tx, s.Reference); err != nil {
			return err
		}
		s.State = string(Abandoned)
		s.ErrorMessage = message
		a.unschedulePoll(tx, s.Reference)
		return nil
	})
	if err != nil {
		a.log.Error("outbox: abandon", "reference", c.Reference, "err", err)
		return
	}
	if !gone {
		a.log.Warn("sale abandoned", "reference", c.Reference, "reason", message)
	}
}

// stillToSend reports, inside a transaction, whether the create c is still
// queued as the caller saw it (no other send of it has marked it sent
// since) and its sale still waiting for it.
func stillToSend(tx *store.Tx, c store.Command, s *store.Sale) bool {
	now, err := tx.Command(c.ID)
	if err != nil || now.MaybeSent != c.MaybeSent {
		return false
	}
	st := State(s.State)
	return st == Queued || st == Requested
}

// dropCommands removes every queued command of a sale for which no payment
// exists (never sent, or refused): a cancel queued behind its create has
// nothing left to cancel.
func dropCommands(tx *store.Tx, ref string) error {
	cmds, err := tx.CommandsFor(ref)
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if err := tx.DeleteCommand(c.ID); err != nil {
			return err
		}
	}
	return nil
}
