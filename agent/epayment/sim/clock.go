package sim

import (
	"time"

	"github.com/tillbox/tillbox/agent/clock"
)

// The simulator's time (payment expiry, token lifetime, rate-limit windows,
// the customer app's delay and webhook back-off) is a [clock.Clock]: the
// real one, one scaled for the demo (NewScaledClock), or a [clock.Fake].

// NewScaledClock returns the real clock running speed times faster (60: one
// simulated minute per real second), starting at the current time. A speed
// that is not positive means 1.
func NewScaledClock(speed float64) clock.Clock {
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
// 0 for a clock that does not follow real time (a clock.Fake).
func realSpeed(c clock.Clock) float64 {
	switch c := c.(type) {
	case clock.Real:
		return 1
	case interface{ Speed() float64 }:
		return c.Speed()
	}
	return 0
}
