package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/store"
)

// The outbox worker sends queued commands to ePayment. Each command is sent
// with the Idempotency-Key and body it was queued with, however often it is
// retried and across restarts. Commands of one sale go one at a time, in the
// order they were queued; commands of different sales go side by side, up to
// Options.Workers.

// outboxLoop runs until ctx ends and waits for the sends it started.
func (a *Agent) outboxLoop(ctx context.Context) {
	slots := make(chan struct{}, a.opts.Workers)
	finished := make(chan struct{}, 1)
	// The sends outlive ctx by StopGrace: at shutdown no new send starts,
	// and a call in flight may finish and have its answer committed before
	// it is cancelled (its command then stays queued: parked). Idle
	// senders end with ctx.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	sends := &senders{ctx: ctx, jobs: make(chan func())}
	defer func() {
		if n := a.inFlight(); n > 0 {
			a.log.Info("outbox: stopping: letting the calls in flight finish", "calls", n, "grace", a.opts.StopGrace)
		}
		t := time.AfterFunc(a.opts.StopGrace, cancelSends)
		sends.wg.Wait()
		t.Stop()
	}()
	for {
		a.beat(loopOutbox)
		next, err := a.dispatch(sendCtx, slots, finished, sends)
		if err != nil {
			a.log.Error("outbox", "err", err)
			next = a.clock.Now().Add(a.opts.RetryBase)
		}
		if !sleep(ctx, a.clock, next, a.wakeOutbox, finished) {
			return
		}
	}
}

// sleep waits until at (zero: until woken), a wake-up or ctx's end; it
// reports false when ctx ended.
func sleep(ctx context.Context, clock Clock, at time.Time, wakes ...chan struct{}) bool {
	fire := make(chan struct{})
	stop := func() bool { return false }
	if !at.IsZero() {
		stop = clock.AfterFunc(max(at.Sub(clock.Now()), 0), func() { close(fire) })
	}
	defer stop()
	var w1, w2 chan struct{}
	if len(wakes) > 0 {
		w1 = wakes[0]
	}
	if len(wakes) > 1 {
		w2 = wakes[1]
	}
	select {
	case <-ctx.Done():
		return false
	case <-fire:
	case <-w1:
	case <-w2:
	}
	// A wake-up may have been pending as ctx ended (select picks at
	// random): the loop must not go round again.
	return ctx.Err() == nil
}

// maxOnTheWay bounds, per worker, the commands on their way: sent, or
// answered with the answer waiting for its commit. A worker is free again
// once its call is answered, so that answers pile up into fewer, larger
// commits (store.DB.Batch) while the next calls go out; this keeps the
// answers waiting for a slow disk from growing without end.
const maxOnTheWay = 4

// dispatch starts a send for every due command that may go now and returns
// when to look again. It walks the due index earliest first and stops once
// every worker is busy: a finished send wakes it again.
func (a *Agent) dispatch(ctx context.Context, slots, finished chan struct{}, sends *senders) (time.Time, error) {
	now := a.clock.Now()
	var next time.Time
	var start []store.DueCommand
	err := a.db.View(func(tx *store.Tx) error {
		a.mu.Lock()
		offline, probeAt, sending := !a.online, a.probeAt, len(a.inflight)
		a.mu.Unlock()
		first := map[string]uint64{} // lowest command id of each sale looked at
		examined := 0
		var ferr error
		onTheWay := func(id uint64) bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.sending[id]
		}
		err := tx.EachDue(now, onTheWay, func(c store.DueCommand) bool {
			if a.isInflight(c.Reference) {
				return true // behind one of its sale's on its way
			}
			if examined++; examined > 64 {
				return false
			}
			id, ok := first[c.Reference]
			if !ok {
				var err error
				if id, _, err = tx.FirstCommandID(c.Reference); err != nil {
					ferr = err
					return false
				}
				first[c.Reference] = id
			}
			if id != c.ID {
				return true // an earlier command of this sale goes first
			}
			// Offline, one command at a time probes the network, at the pace
			// of the back-off; a create whose window has passed needs no call
			// to be abandoned, and goes.
			pastWindow := c.Kind == cmdCreate && !c.MaybeSent && !c.NotAfter.IsZero() && now.After(c.NotAfter)
			if offline && !pastWindow {
				if sending > 0 || now.Before(probeAt) {
					if sending == 0 {
						next = earliest(next, probeAt)
					}
					next = wakeAtWindowEnd(next, c)
					return true
				}
				sending++
			}
			// A create past its window is abandoned or settled by GET: no
			// modification call, so the per-reference limit does not apply.
			modifies := !(c.Kind == cmdCreate && !c.NotAfter.IsZero() && now.After(c.NotAfter))
			if wait := a.rateWait(c.Reference, now); modifies && wait > 0 {
				next = earliest(next, now.Add(wait))
				if c.Kind == cmdCreate && !c.NotAfter.IsZero() {
					next = earliest(next, c.NotAfter.Add(time.Millisecond))
				}
				return true
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			if len(a.inflight) >= maxOnTheWay*cap(slots) {
				return false // a commit is slow: a finished send wakes us
			}
			select {
			case slots <- struct{}{}:
			default:
				return false // every worker is busy; a finished send wakes us
			}
			a.inflight[c.Reference] = true
			a.sending[c.ID] = true
			if modifies {
				a.limits[c.Reference] = append(a.limits[c.Reference], now)
			}
			start = append(start, c)
			return true
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
		// Due commands held back (behind an earlier command of their sale,
		// or by the rate limit) are covered by the first's NextAttempt,
		// the limit's wait, or a finished send.
		at, ok, err := tx.NextDueAfter(now)
		if ok {
			next = earliest(next, at)
		}
		return err
	})
	// What was started holds a slot and its sale: send it even if the walk
	// failed later (the send reads the command afresh).
	for _, c := range start {
		sends.run(func() {
			var once sync.Once
			free := func() {
				once.Do(func() {
					<-slots
					wake(finished)
				})
			}
			defer func() {
				a.doneSending(c.Reference, c.ID)
				free()
				wake(finished)
			}()
			a.send(ctx, c.ID, free)
		})
	}
	if err != nil {
		return time.Time{}, err
	}
	return next, nil
}

// senders run the sends on goroutines that stay for the next one while the
// outbox is busy: a new goroutine per send would grow its stack again for
// every call (HTTP, JSON), which cost more than the rest of the send's
// bookkeeping.
type senders struct {
	ctx  context.Context
	jobs chan func() // unbuffered: taken only by an idle sender
	wg   sync.WaitGroup
}

// senderIdle is how long a sender waits for another send before it ends.
const senderIdle = 5 * time.Second

// run hands fn to an idle sender, or starts one.
func (p *senders) run(fn func()) {
	select {
	case p.jobs <- fn:
	default:
		p.wg.Go(func() {
			fn()
			idle := time.NewTimer(senderIdle)
			defer idle.Stop()
			for {
				select {
				case fn := <-p.jobs:
					fn()
					idle.Reset(senderIdle)
				case <-idle.C:
					return
				case <-p.ctx.Done():
					return
				}
			}
		})
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// ePayment allows 5 create, capture, cancel and refund calls a minute per
// reference (FACTS.md §6); the worker keeps under it rather than earn 429s.
const (
	refLimit  = 5
	refWindow = time.Minute
)

// rateWait is how long a sale's next call must wait to stay under the limit.
func (a *Agent) rateWait(ref string, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	times := a.limits[ref]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= refWindow {
		i++
	}
	times = times[i:]
	if len(times) == 0 {
		delete(a.limits, ref)
		return 0
	}
	a.limits[ref] = times
	if len(times) < refLimit {
		return 0
	}
	return refWindow - now.Sub(times[0])
}

// uncount takes back the last call counted against a sale's limit.
func (a *Agent) uncount(ref string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t := a.limits[ref]; len(t) > 0 {
		a.limits[ref] = t[:len(t)-1]
	}
}

func (a *Agent) isInflight(ref string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inflight[ref]
}

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

// noAnswer reports whether a call got no answer at all from Vipps
// MobilePay (the network failed or the call timed out).
func noAnswer(err error) bool {
	var te *epayment.TransportError
	return errors.As(err, &te)
}

// notSent reports whether err certainly happened before anything reached
// Vipps MobilePay: the token call failed, or no connection was had.
func notSent(err error) bool { return epayment.NotSent(err) }

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
