package agent

import (
	"context"
	"fmt"
	"sync"
)

// The loops whose liveness the watchdog checks.
const (
	loopOutbox = iota
	loopPoll
	nLoops
)

var loopNames = [nLoops]string{"outbox", "poll"}

// liveness lets a watchdog ask the agent's loops to show they still turn:
// Alive starts a new round and wakes them; each loop records the round at
// the top of each turn.
type liveness struct {
	mu      sync.Mutex
	round   uint64
	seen    [nLoops]uint64
	changed chan struct{} // capacity 1: a loop recorded a round
}

// beat records that loop i turned.
func (a *Agent) beat(i int) {
	l := &a.live
	l.mu.Lock()
	l.seen[i] = l.round
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// Alive wakes the outbox and poll loops and waits until each has turned
// once since, or ctx ends: then it names the loops that did not. A loop
// busy with one call to Vipps MobilePay turns when the call ends (at most
// the client's timeout), so give ctx more than that. Only one Alive at a
// time (the watchdog's).
func (a *Agent) Alive(ctx context.Context) error {
	l := &a.live
	l.mu.Lock()
	l.round++
	want := l.round
	l.mu.Unlock()
	wake(a.wakeOutbox)
	wake(a.wakePoll)
	for {
		l.mu.Lock()
		var stuck []string
		for i, r := range l.seen {
			if r < want {
				stuck = append(stuck, loopNames[i])
			}
		}
		l.mu.Unlock()
		if len(stuck) == 0 {
			return nil
		}
		select {
		case <-l.changed:
		case <-ctx.Done():
			return fmt.Errorf("agent: the %v loop(s) did not turn: %w", stuck, ctx.Err())
		}
	}
}
