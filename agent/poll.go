package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/store"
)

// Polling learns outcomes as FACTS.md §10 says: the first GET 5 s after the
// create was answered, then every 2 s, longer after a 429. The same schedule
// settles every unfinished sale at start and when ePayment is reachable
// again (reconciliation), runs a GET at once when a webhook arrives, and
// abandons a sale that waited for a scan past the customer-present window.

// schedulePoll (inside a transaction) polls ref at the given time once the
// transaction is committed.
func (a *Agent) schedulePoll(tx *store.Tx, ref string, at time.Time) {
	tx.OnCommit(func() { a.pollAt(ref, at) })
}

func (a *Agent) unschedulePoll(tx *store.Tx, ref string) {
	tx.OnCommit(func() {
		a.mu.Lock()
		delete(a.polls, ref)
		a.mu.Unlock()
	})
}

// pollAt polls ref at the given time (or sooner if already scheduled sooner).
func (a *Agent) pollAt(ref string, at time.Time) {
	a.mu.Lock()
	if old, ok := a.polls[ref]; !ok || at.Before(old) {
		a.polls[ref] = at
	}
	a.mu.Unlock()
	wake(a.wakePoll)
}

// reconcileAll schedules every unfinished sale to be settled from ePayment.
func (a *Agent) reconcileAll() error {
	now := a.clock.Now()
	if err := a.db.View(func(tx *store.Tx) error {
		return tx.EachOpen(func(s store.OpenSale) bool {
			switch State(s.State) {
			case WaitingForCustomer:
				a.pollAt(s.Reference, s.CreatedAt.Add(a.CustomerPresentWindow()))
			case Queued:
				// The outbox sends it.
			default:
				a.pollAt(s.Reference, now)
			}
			return true
		})
	}); err != nil {
		return fmt.Errorf("agent: reconcile: %w", err)
	}
	wake(a.wakeOutbox)
	return nil
}

// pollLoop runs due polls one at a time until ctx ends.
func (a *Agent) pollLoop(ctx context.Context) {
	for {
		a.beat(loopPoll)
		now := a.clock.Now()
		var due []string
		var next time.Time
		a.mu.Lock()
		for ref, at := range a.polls {
			if !at.After(now) {
				due = append(due, ref)
				delete(a.polls, ref)
			} else {
				next = earliest(next, at)
			}
		}
		a.mu.Unlock()
		for _, ref := range due {
			if ctx.Err() != nil {
				return
			}
			a.poll(ctx, ref)
		}
		if len(due) > 0 {
			continue // polls may have been rescheduled sooner than next
		}
		if !sleep(ctx, a.clock, next, a.wakePoll) {
			return
		}
	}
}

// poll settles one sale from a GET.
func (a *Agent) poll(ctx context.Context, ref string) {
	s, err := a.GetSale(ref)
	if err != nil {
		return
	}
	now := a.clock.Now()
	switch s.State {
	case WaitingForCustomer:
		if !now.Before(s.CreatedAt.Add(a.CustomerPresentWindow())) {
			a.abandonWaiting(ref)
		} else {
			a.pollAt(ref, s.CreatedAt.Add(a.CustomerPresentWindow()))
		}
		return
	case Queued:
		// Not sent yet, or on its way: nothing to ask. A webhook stays held
		// until the create's answer is committed (webhookhold.go).
		return
	}
	a.webhookApplied(ref)
	p, err := a.vipps.GetPayment(ctx, ref)
	a.noteCall(err)
	switch {
	case err == nil:
		a.settleLogged(ref, p, 0, nil)
	case ctx.Err() != nil:
	case epayment.StatusCode(err) == 404:
		// Not created (yet): the outbox still repeats the create, or settles it.
		if s.State == Requested {
			a.pollAt(ref, now.Add(a.opts.PollEvery))
		}
	case epayment.StatusCode(err) == 429:
		a.pollAt(ref, now.Add(max(epayment.RetryAfter(err), 2*a.opts.PollEvery)))
	default:
		a.pollAt(ref, now.Add(backoff(a.opts.PollEvery, 30*time.Second, 3)))
	}
}

// abandonWaiting ends a sale no customer scanned for.
func (a *Agent) abandonWaiting(ref string) {
	_, err := a.modify(ref, func(tx *store.Tx, s *store.Sale) error {
		if State(s.State) != WaitingForCustomer {
			return nil
		}
		s.State = string(Abandoned)
		s.ErrorMessage = fmt.Sprintf("No customer scanned a code within %v.", a.CustomerPresentWindow())
		return nil
	})
	if err != nil {
		a.log.Error("abandon waiting sale", "reference", ref, "err", err)
	}
}
