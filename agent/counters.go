package agent

import (
	"maps"
	"sync"
)

// counters are the agent's figures since start, for /metrics.
type counters struct {
	mu       sync.Mutex
	finished map[State]uint64
}

// finish counts a sale that became final; called once its transaction is
// committed.
func (c *counters) finish(s State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished == nil {
		c.finished = map[State]uint64{}
	}
	c.finished[s]++
}

// Finished returns how many sales became final in each state since the
// agent started (a state without any is missing).
func (a *Agent) Finished() map[State]uint64 {
	a.counts.mu.Lock()
	defer a.counts.mu.Unlock()
	return maps.Clone(a.counts.finished)
}
