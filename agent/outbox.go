package agent

import (
	"context"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/store"
)

// The outbox worker sends queued commands to ePayment. Each command is sent
// with the Idempotency-Key and body it was queued with, however often it is
// retried and across restarts. Commands of one sale go one at a time, in the
// order they were queued; commands of different sales go side by side, up to
// Options.Workers. What goes when is decided by the scheduler
// (schedule.go); this file reads the due index for it, collects the state
// it needs and starts the sends it chose (send.go, create.go).

// outbox is the outbox loop's own state: only the loop's goroutine uses it.
type outbox struct {
	slots    chan struct{} // a worker each, held by a send until its call is answered
	finished chan struct{} // a send freed its worker or ended
	sends    *senders
	// calls holds the calls counted against each sale's limit (refLimit),
	// oldest first.
	calls map[string][]time.Time
	// What is on its way, copied from the agent's at each look (kept to
	// spare the allocations).
	inflight map[string]bool
	sending  map[uint64]bool
	sched    scheduler // reused from one look to the next
}

// outboxLoop runs until ctx ends and waits for the sends it started.
func (a *Agent) outboxLoop(ctx context.Context) {
	o := &outbox{
		slots:    make(chan struct{}, a.opts.Workers),
		finished: make(chan struct{}, 1),
		sends:    &senders{ctx: ctx, jobs: make(chan func())},
		calls:    map[string][]time.Time{},
		inflight: map[string]bool{},
		sending:  map[uint64]bool{},
	}
	// The sends outlive ctx by StopGrace: at shutdown no new send starts,
	// and a call in flight may finish and have its answer committed before
	// it is cancelled (its command then stays queued: parked). Idle
	// senders end with ctx.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	defer func() {
		if n := a.inFlight(); n > 0 {
			a.log.Info("outbox: stopping: letting the calls in flight finish", "calls", n, "grace", a.opts.StopGrace)
		}
		t := time.AfterFunc(a.opts.StopGrace, cancelSends)
		o.sends.wg.Wait()
		t.Stop()
	}()
	for {
		a.beat(loopOutbox)
		next, err := a.dispatch(sendCtx, o)
		if err != nil {
			a.log.Error("outbox", "err", err)
			next = a.clock.Now().Add(a.opts.RetryBase)
		}
		if !sleep(ctx, a.clock, next, a.wakeOutbox, o.finished) {
			return
		}
	}
}

// sleep waits until at (zero: until woken), a wake-up or ctx's end; it
// reports false when ctx ended.
func sleep(ctx context.Context, clk clock.Clock, at time.Time, wakes ...chan struct{}) bool {
	fire := make(chan struct{})
	stop := func() bool { return false }
	if !at.IsZero() {
		stop = clk.AfterFunc(max(at.Sub(clk.Now()), 0), func() { close(fire) })
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

// dispatch starts a send for every due command the scheduler lets go now
// and returns when to look again. It walks the due index earliest first
// and stops once the scheduler is done (every worker busy: a finished send
// wakes it again).
func (a *Agent) dispatch(ctx context.Context, o *outbox) (time.Time, error) {
	s := &o.sched
	s.reset(a.outboxState(o))
	now := s.in.now
	var later time.Time
	err := a.db.View(func(tx *store.Tx) error {
		first := map[string]uint64{} // lowest command id of each sale looked at
		var ferr error
		onTheWay := func(id uint64) bool { return o.sending[id] }
		err := tx.EachDue(now, onTheWay, func(c store.DueCommand) bool {
			look, more := s.see(c)
			if !look {
				return more
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
			return s.decide(c, id)
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
		at, ok, err := tx.NextDueAfter(now)
		if ok {
			later = at
		}
		return err
	})
	// What was chosen is sent even if the walk failed later (the send
	// reads the command afresh).
	p := s.done(later)
	a.start(ctx, o, p)
	if err != nil {
		return time.Time{}, err
	}
	return p.next, nil
}

// outboxState collects what the scheduler needs, in one critical section.
func (a *Agent) outboxState(o *outbox) outboxState {
	now := a.clock.Now()
	clear(o.inflight)
	clear(o.sending)
	a.mu.Lock()
	for ref, v := range a.inflight {
		o.inflight[ref] = v
	}
	for id, v := range a.sending {
		o.sending[id] = v
	}
	in := outboxState{now: now, online: a.online, probeAt: a.probeAt, onTheWay: len(a.inflight)}
	uncounted := a.uncounted
	a.uncounted = nil
	a.mu.Unlock()
	for _, ref := range uncounted {
		if t := o.calls[ref]; len(t) > 0 {
			o.calls[ref] = t[:len(t)-1]
		}
	}
	in.inflight, in.calls = o.inflight, o.calls
	in.freeWorkers = cap(o.slots) - len(o.slots) // only this goroutine takes slots
	in.maxOnTheWay = maxOnTheWay * cap(o.slots)
	return in
}

// start carries out plan p (whose storage the next look reuses): it notes
// the calls counted, marks the commands chosen on their way, and sends
// them.
func (a *Agent) start(ctx context.Context, o *outbox, p outboxPlan) {
	for ref, t := range p.calls {
		if len(t) == 0 {
			delete(o.calls, ref)
		} else {
			o.calls[ref] = t
		}
	}
	if len(p.send) == 0 {
		return
	}
	a.mu.Lock()
	for _, c := range p.send {
		a.inflight[c.Reference] = true
		a.sending[c.ID] = true
	}
	a.mu.Unlock()
	for _, c := range p.send {
		// Never blocks: the plan took no more than the free workers, and
		// only this goroutine takes them.
		o.slots <- struct{}{}
		o.sends.run(func() {
			var once sync.Once
			free := func() {
				once.Do(func() {
					<-o.slots
					wake(o.finished)
				})
			}
			defer func() {
				a.doneSending(c.Reference, c.ID)
				free()
				wake(o.finished)
			}()
			a.send(ctx, c.ID, free)
		})
	}
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

// uncount takes back the last call counted against a sale's limit (the
// outbox loop does, at its next look).
func (a *Agent) uncount(ref string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.uncounted = append(a.uncounted, ref)
}

func (a *Agent) isInflight(ref string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inflight[ref]
}
