package sim

import (
	"container/heap"
	"sync"
	"time"
)

// Clock is the simulator's time: payment expiry, token lifetime, rate-limit
// windows, the customer app's delay and webhook back-off all follow it.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f once d has passed. stop cancels the call and reports
	// whether it did so before f ran.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// NewScaledClock returns the real clock running speed times faster (60: one
// simulated minute per real second), starting at the current time. A speed
// that is not positive means 1.
func NewScaledClock(speed float64) Clock {
	if speed <= 0 {
		speed = 1
	}
	now := time.Now()
	return &scaledClock{speed: speed, realStart: now, simStart: now}
}

type scaledClock struct {
	speed     float64
	realStart time.Time
	simStart  time.Time
}

func (c *scaledClock) Now() time.Time {
	return c.simStart.Add(time.Duration(float64(time.Since(c.realStart)) * c.speed))
}

func (c *scaledClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(time.Duration(float64(d)/c.speed), f).Stop
}

// Speed is how many times faster than real time the clock runs.
func (c *scaledClock) Speed() float64 { return c.speed }

// realSpeed is the speed of a clock that runs in real time, scaled or not;
// 0 for a clock that does not follow real time (a FakeClock).
func realSpeed(c Clock) float64 {
	switch c := c.(type) {
	case realClock:
		return 1
	case interface{ Speed() float64 }:
		return c.Speed()
	}
	return 0
}

// FakeClock is a clock that moves only when told to. Timers fire inside
// Advance, on the caller's goroutine, one at a time in the order they are due
// (ties in the order they were set); during a timer's function Now is the time
// it was due. A timer due now (d <= 0) fires at the next Advance, Advance(0)
// included.
type FakeClock struct {
	advancing sync.Mutex // serialises Advance so timers fire in order

	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers fakeTimers
}

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start}
}

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run when the clock has advanced by d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d < 0 {
		d = 0
	}
	c.seq++
	t := &fakeTimer{at: c.now.Add(d), seq: c.seq, f: f, index: -1}
	heap.Push(&c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.index < 0 {
			return false
		}
		heap.Remove(&c.timers, t.index)
		return true
	}
}

// Advance moves the clock forward by d, firing every timer that falls due,
// including timers set by the timers themselves.
func (c *FakeClock) Advance(d time.Duration) {
	c.advancing.Lock()
	defer c.advancing.Unlock()
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		if len(c.timers) == 0 || c.timers[0].at.After(target) {
			if target.After(c.now) {
				c.now = target
			}
			c.mu.Unlock()
			return
		}
		t := heap.Pop(&c.timers).(*fakeTimer)
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.mu.Unlock()
		t.f()
	}
}

// Timers returns the number of timers waiting to fire.
func (c *FakeClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type fakeTimer struct {
	at    time.Time
	seq   uint64
	f     func()
	index int // in the heap; -1 once fired or stopped
}

type fakeTimers []*fakeTimer

func (h fakeTimers) Len() int { return len(h) }
func (h fakeTimers) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h fakeTimers) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *fakeTimers) Push(x any) {
	t := x.(*fakeTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *fakeTimers) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}
