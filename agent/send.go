package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/store"
)

// The sends of the outbox: one attempt of a command, and what its answer
// makes of the command and its sale (a retry, a refusal, a GET to settle
// from). Creates have their own file (create.go).

// send makes one attempt of a command and records its outcome. It calls
// free once the call is over, before the outcome waits for its commit.
func (a *Agent) send(ctx context.Context, id uint64, free func()) {
	// The dispatcher chose by the index, which may predate what an earlier
	// send of this command committed (its MaybeSent mark, its deletion):
	// act on the command as it is now.
	var c store.Command
	if rerr := a.db.View(func(tx *store.Tx) error {
		now, err := tx.Command(id)
		if err == nil {
			c = *now
		}
		return err
	}); rerr != nil {
		if !errors.Is(rerr, store.ErrNotFound) {
			a.log.Error("outbox: read command", "id", id, "err", rerr)
		}
		return
	}
	if c.Kind == cmdCreate {
		a.sendCreate(ctx, c, free)
		return
	}
	var (
		m   *epayment.ModificationResponse
		err error
	)
	switch c.Kind {
	case cmdCapture, cmdRefund:
		var body epayment.ModificationRequest
		if err := json.Unmarshal(c.Body, &body); err != nil {
			a.log.Error("outbox: unreadable command", "id", c.ID, "err", err)
			return
		}
		if c.Kind == cmdCapture {
			m, err = a.vipps.CapturePayment(ctx, c.IdempotencyKey, c.Reference, body.ModificationAmount)
		} else {
			m, err = a.vipps.RefundPayment(ctx, c.IdempotencyKey, c.Reference, body.ModificationAmount)
		}
	case cmdCancel:
		var body epayment.CancelRequest
		_ = json.Unmarshal(c.Body, &body)
		m, err = a.vipps.CancelPayment(ctx, c.IdempotencyKey, c.Reference, body.CancelTransactionOnly)
	default:
		a.log.Error("outbox: unknown command kind", "kind", c.Kind, "id", c.ID)
		return
	}
	a.noteCall(err)
	switch {
	case err == nil:
		free()
		a.settleLogged(c.Reference, &epayment.Payment{State: m.State, Aggregate: m.Aggregate, Amount: m.Amount}, c.ID, nil)
	case ctx.Err() != nil:
		// Shutting down: the command stays queued and goes again at start
		// with the same Idempotency-Key.
		a.log.Info("outbox: parked for the next start", "kind", c.Kind, "reference", c.Reference)
	case retryable(err):
		if noAnswer(err) {
			a.uncount(c.Reference) // as for a create
		}
		free()
		a.retryLater(c, err, true)
	case c.Kind == cmdCancel && epayment.ErrorCode(err) == "6250":
		// The customer is approving right now. The refusal sticks to this
		// Idempotency-Key, so cancel again shortly as a new command (it
		// then releases the authorisation instead).
		a.cancelAgain(c, err)
	default:
		// Refused for good (or a conflict): what ePayment says of the
		// payment now is the truth to settle from.
		a.log.Warn("command refused", "kind", c.Kind, "reference", c.Reference, "err", err)
		a.resolveByGet(ctx, c, err)
	}
}

// cancelAgain replaces a cancel refused while the customer was approving
// with a new one (a new key) a little later, later each time: every try
// counts against the sale's few modifications a minute, and an approval
// can take the customer a while.
func (a *Agent) cancelAgain(c store.Command, cause error) {
	now := a.clock.Now()
	n := c.Attempts + 1
	_, err := a.modify(c.Reference, func(tx *store.Tx, s *store.Sale) error {
		if err := tx.DeleteCommand(c.ID); err != nil {
			return err
		}
		return a.enqueueRetry(tx, c.Reference, cmdCancel, &epayment.CancelRequest{}, time.Time{}, now,
			now.Add(backoff(a.opts.PollEvery, a.opts.RetryMax, n)), n)
	})
	if err != nil {
		a.log.Error("outbox: cancel again", "reference", c.Reference, "err", err)
		return
	}
	a.log.Info("cancel refused while the customer approves: cancelling again shortly", "reference", c.Reference, "err", cause)
}

// retryable: send again later with the same key. Credentials problems
// (401, 403) and a redirect (a wrong base URL) are retried too, with
// back-off: a technician can fix them, and dropping a capture because of
// them would lose money.
func retryable(err error) bool {
	s := epayment.StatusCode(err)
	return epayment.IsRetryable(err) || epayment.IsAuth(err) || (s >= 300 && s < 400)
}

// noAnswer reports whether a call got no answer at all from Vipps
// MobilePay (the network failed or the call timed out).
func noAnswer(err error) bool {
	var te *epayment.TransportError
	return errors.As(err, &te)
}

// notSent reports whether err certainly happened before anything reached
// Vipps MobilePay: the token call failed, or no connection was had.
func notSent(err error) bool { return epayment.NotSent(err) }

// retryLater backs off with jitter, or waits as long as ePayment asked.
func (a *Agent) retryLater(c store.Command, err error, maybeSent bool) {
	now := a.clock.Now()
	c.Attempts++
	delay := backoff(a.opts.RetryBase, a.opts.RetryMax, c.Attempts)
	if ra := epayment.RetryAfter(err); ra > 0 {
		delay = ra
	}
	c.NextAttempt = now.Add(delay)
	if c.Kind == cmdCreate && !c.MaybeSent && !c.NotAfter.IsZero() && c.NextAttempt.After(c.NotAfter) {
		c.NextAttempt = c.NotAfter.Add(time.Millisecond) // abandon on time
	}
	c.LastError = err.Error()
	c.NoAnswer = noAnswer(err) // goes as soon as the network is back (probe.go)
	_, uerr := a.modify(c.Reference, func(tx *store.Tx, s *store.Sale) error {
		if err := tx.UpdateCommand(&c); err != nil {
			return err
		}
		if c.Kind == cmdCreate && maybeSent && State(s.State) == Queued {
			s.State = string(Requested)
		}
		return nil
	})
	if uerr != nil {
		a.log.Error("outbox: record retry", "reference", c.Reference, "err", uerr)
	}
	a.log.Info("command will be retried", "kind", c.Kind, "reference", c.Reference, "attempt", c.Attempts, "in", delay, "err", err)
}

// backoff is base·2^(n-1) capped at max, with jitter over its upper half.
func backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + rand.N(d/2+1)
}

// fail records that ePayment refused a create for good.
func (a *Agent) fail(c store.Command, cause error) {
	code := epayment.ErrorCode(cause)
	_, err := a.modify(c.Reference, func(tx *store.Tx, s *store.Sale) error {
		if err := dropCommands(tx, s.Reference); err != nil {
			return err
		}
		s.State = string(Failed)
		s.ErrorCode = code
		s.ErrorMessage = cashierMessage(code, epayment.StatusCode(cause))
		a.unschedulePoll(tx, s.Reference)
		return nil
	})
	if err != nil {
		a.log.Error("outbox: record failure", "reference", c.Reference, "err", err)
	}
	a.log.Warn("payment refused", "reference", c.Reference, "code", code, "err", cause)
}

// resolveByGet settles a command's sale from what ePayment says of the
// payment: after a refusal, a conflict, or a create that may have been sent
// but whose window has passed.
func (a *Agent) resolveByGet(ctx context.Context, c store.Command, cause error) {
	p, err := a.vipps.GetPayment(ctx, c.Reference)
	a.noteCall(err)
	switch {
	case err == nil:
		a.settleLogged(c.Reference, p, c.ID, cause)
	case ctx.Err() != nil:
	case epayment.StatusCode(err) == 404 && c.Kind == cmdCreate && cause == nil:
		a.abandon(c, fmt.Sprintf("The payment request could not be confirmed within %v. Take another means of payment.", a.CustomerPresentWindow()))
	case epayment.StatusCode(err) == 404 && c.Kind == cmdCreate:
		a.fail(c, cause)
	case epayment.StatusCode(err) == 404:
		a.fail(c, err)
	default:
		a.retryLater(c, err, c.MaybeSent)
	}
}
