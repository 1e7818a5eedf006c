package agent

import (
	"errors"
	"sync/atomic"
)

// ErrStopping refuses a new sale while the box shuts down (an update, a
// restart): the POS sends it again in a moment, to the box that comes back.
var ErrStopping = errors.New("the box is shutting down: no new sales until it is back")

// stopping is set by StopSales.
type stopping struct{ v atomic.Bool }

// StopSales makes the agent refuse new sales (ErrStopping) from now on;
// sales already taken go on: their commands are sent until Run's context
// ends, and those in flight then get Options.StopGrace to finish before they
// are parked in the outbox for the next start. It is the first step of a
// graceful shutdown.
func (a *Agent) StopSales() { a.stop.v.Store(true) }

// Stopping reports whether StopSales was called.
func (a *Agent) Stopping() bool { return a.stop.v.Load() }

// inFlight is the number of sales with a command being sent.
func (a *Agent) inFlight() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.inflight)
}
