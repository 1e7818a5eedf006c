package agent

import (
	"context"
	"sync"
	"time"

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
