package bench

import (
	"sync"
	"time"
)

// jumpClock is the real clock plus an offset that jump moves forward: an
// outage of an hour passes in an instant. Timers follow the jump: one due by
// the new time fires at once, the others are rescheduled. It satisfies
// clock.Clock.
type jumpClock struct {
	mu     sync.Mutex
	offset time.Duration
	timers map[*jumpTimer]struct{} // set and not yet fired or stopped
}

type jumpTimer struct {
	at time.Time // by the clock
	t  *time.Timer
}

func newJumpClock() *jumpClock { return &jumpClock{timers: map[*jumpTimer]struct{}{}} }

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now()
}

func (c *jumpClock) now() time.Time { return time.Now().Add(c.offset) }

// AfterFunc calls f in its own goroutine once d has passed by the clock,
// as time.AfterFunc does.
func (c *jumpClock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	jt := &jumpTimer{at: c.now().Add(d)}
	c.timers[jt] = struct{}{}
	jt.t = time.AfterFunc(d, func() {
		c.mu.Lock()
		_, pending := c.timers[jt]
		delete(c.timers, jt)
		c.mu.Unlock()
		if pending {
			f()
		}
	})
	return func() bool {
		c.mu.Lock()
		_, pending := c.timers[jt]
		delete(c.timers, jt)
		c.mu.Unlock()
		jt.t.Stop()
		return pending
	}
}

// jump moves the clock forward by d.
func (c *jumpClock) jump(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	now := c.now()
	for jt := range c.timers {
		if jt.t.Stop() {
			jt.t.Reset(max(jt.at.Sub(now), 0))
		}
	}
}
