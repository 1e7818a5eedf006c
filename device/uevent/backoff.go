package uevent

import (
	"math/rand/v2"
	"time"
)

// Backoff paces the attempts to open a device that is missing. The first
// waits after a loss (or at start) are short: Min, doubling up to Max, for
// a device that comes back by itself or that udev is still setting up.
// Once a wait of Max has passed in vain, and Hotplug works, the next
// attempt waits for a hotplug event, or Idle at most; after an event the
// short waits start again. Without Hotplug (or with Idle negative) the
// waits stay at Max.
//
// A loop calls Arm before each attempt, Wait after one failed, and Reset
// after one worked.
type Backoff struct {
	Min, Max time.Duration
	// Idle bounds the wait for a hotplug event; 0 means DefaultIdle, and a
	// negative value means never to wait for hotplug events.
	Idle time.Duration
	// Hotplug tells of hotplug events; nil means timed retries only.
	Hotplug Source
	// Jitter spreads the short waits by ±20%, so that devices lost
	// together are not looked for in step.
	Jitter bool

	wait    time.Duration // the next short wait; 0 before the first
	idle    bool          // the short waits are over
	ticket  <-chan struct{}
	started bool
}

// DefaultIdle is how long a missing device is waited for without a
// hotplug event before it is looked for again anyway.
const DefaultIdle = time.Minute

// Woken says why Wait returned.
type Woken int

const (
	// Stopped: the stop channel was closed.
	Stopped Woken = iota
	// Timer: the wait was over.
	Timer
	// Hotplug: a hotplug event came.
	Hotplug
)

// Arm is called before an attempt to open the device: a hotplug event
// from now on ends the next Wait at once, so that none is missed between
// a failed attempt and the wait.
func (b *Backoff) Arm() {
	if b.Hotplug != nil && b.Idle >= 0 {
		b.ticket = b.Hotplug.Next()
	}
}

// Reset starts the short waits again, after the device was opened.
func (b *Backoff) Reset() {
	b.wait, b.idle = b.Min, false
}

// Idling reports whether the next Wait waits for a hotplug event.
func (b *Backoff) Idling() bool {
	return b.idle && b.ticket != nil
}

// Upcoming is the longest the next Wait waits.
func (b *Backoff) Upcoming() time.Duration {
	b.init()
	if b.Idling() {
		return b.idleFor()
	}
	return b.wait
}

func (b *Backoff) init() {
	if !b.started {
		b.started = true
		b.Reset()
	}
}

func (b *Backoff) idleFor() time.Duration {
	if b.Idle == 0 {
		return DefaultIdle
	}
	return b.Idle
}

// Wait waits before the next attempt: a short wait, or, once those are
// over, until a hotplug event or Idle. It returns Stopped when stop is
// closed first.
func (b *Backoff) Wait(stop <-chan struct{}) Woken {
	b.init()
	if b.Idling() {
		t := time.NewTimer(b.idleFor())
		defer t.Stop()
		select {
		case <-stop:
			return Stopped
		case <-t.C:
			return Timer
		case <-b.ticket:
			b.Reset()
			return Hotplug
		}
	}
	d := b.wait
	if b.wait >= b.Max {
		b.idle = true
	}
	b.wait = min(2*b.wait, b.Max)
	if b.Jitter {
		d += time.Duration((rand.Float64() - 0.5) * 0.4 * float64(d))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return Stopped
	case <-t.C:
		return Timer
	}
}
