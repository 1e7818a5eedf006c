// Package clock is tillbox's one source of time: the [Clock] the agent, the
// customer display and the Vipps MobilePay simulator read and set timers on,
// the [Real] clock, and [Fake], a clock that moves only when a test says so,
// so that tests of expiry, polling and back-off run in milliseconds.
// Standard library only (like tailscale's tstime).
package clock

import "time"

// Clock is a source of time and timers.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f once d has passed. stop cancels the call and reports
	// whether it did so before f ran.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// Real is the system's clock (package time). Its zero value is ready.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
