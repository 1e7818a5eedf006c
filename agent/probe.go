package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillbox/tillbox/store"
)

// maxProbes bounds the probes on their way at once: with a network that
// swallows packets each waits for its ProbeTimeout, and the next starts
// ProbeEvery after the last, not after it ends.
const maxProbes = 3

// probeLoop notices at once that Vipps MobilePay answers again. While the
// agent is offline and commands wait in the outbox, it asks the API host for
// any answer every ProbeEvery (epayment.Client.Probe: no credentials, no
// command). When a probe is answered after one went unanswered, the network
// was down and is back: the commands held back by their back-off are made
// due (store.Tx.Hasten) and the agent turns online, which reconciles and
// wakes the outbox, so the queue starts draining within about ProbeEvery of
// the network's return instead of at the back-off's pace (up to RetryMax).
// Probes that are answered while the calls themselves get no answer change
// nothing: the commands keep their back-off. Online, or with nothing queued,
// it sends nothing.
func (a *Agent) probeLoop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var onTheWay atomic.Int32
	var mu sync.Mutex
	down := false // a probe went unanswered since the last answer
	for {
		if a.needsProbe() && onTheWay.Load() < maxProbes {
			onTheWay.Add(1)
			wg.Go(func() {
				defer onTheWay.Add(-1)
				pctx, cancel := context.WithTimeout(ctx, a.opts.ProbeTimeout)
				defer cancel()
				err := a.vipps.Probe(pctx)
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				back := err == nil && down
				down = err != nil
				mu.Unlock()
				if back {
					a.networkBack()
				}
			})
		}
		next := time.Time{} // online: until noteCall wakes it
		if !a.isOnline() {
			next = a.clock.Now().Add(a.opts.ProbeEvery)
		}
		if !sleep(ctx, a.clock, next, a.wakeProbe) {
			return
		}
	}
}

// networkBack makes the commands held back by the outage due now and turns
// the agent online.
func (a *Agent) networkBack() {
	now := a.clock.Now()
	var n int
	err := a.db.Update(func(tx *store.Tx) error {
		var err error
		n, err = tx.Hasten(now, now.Add(a.opts.RetryMax))
		return err
	})
	if err != nil {
		a.log.Error("probe: hasten queued commands", "err", err)
	}
	a.log.Info("probe: ePayment answers again", "commands", n)
	a.noteReach(nil) // an answer of the host, not of the credentials
}

// needsProbe: offline with commands waiting to be sent.
func (a *Agent) needsProbe() bool {
	if a.isOnline() {
		return false
	}
	st, err := a.db.Stats()
	return err == nil && st.Commands > 0
}

func (a *Agent) isOnline() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.online
}
