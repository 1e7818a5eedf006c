package agent

import (
	"fmt"
	"time"

	"github.com/tillbox/tillbox/store"
)

// The customer-present window can change while the agent runs (the
// technician page's settings): a sale made after the change uses the new
// window, as does every check of one made before.

// Bounds of the customer-present window.
const (
	MinCustomerPresentWindow = time.Second
	MaxCustomerPresentWindow = 10 * time.Minute
)

// CustomerPresentWindow is the window in force: a payment request not sent
// within it is abandoned.
func (a *Agent) CustomerPresentWindow() time.Duration { return time.Duration(a.window.Load()) }

// SetCustomerPresentWindow changes the window from now on.
func (a *Agent) SetCustomerPresentWindow(d time.Duration) error {
	if d < MinCustomerPresentWindow || d > MaxCustomerPresentWindow {
		return fmt.Errorf("agent: customer-present window %v: use %v to %v", d, MinCustomerPresentWindow, MaxCustomerPresentWindow)
	}
	old := time.Duration(a.window.Swap(int64(d)))
	if old != d {
		a.log.Info("customer-present window changed", "from", old, "to", d)
	}
	return nil
}

// wakeAtWindowEnd is next, or the end of c's window if that is sooner and
// c is a create that surely never left: the outbox then abandons it on
// time, even while it waits offline for its next probe.
func wakeAtWindowEnd(next time.Time, c store.DueCommand) time.Time {
	if c.Kind != cmdCreate || c.MaybeSent || c.NotAfter.IsZero() {
		return next
	}
	return earliest(next, c.NotAfter.Add(time.Millisecond))
}

// notSentMessage tells the cashier why a payment request was abandoned
// without being sent.
func (a *Agent) notSentMessage() string {
	why := "no answer from Vipps MobilePay"
	if a.authRefused() {
		why = "Vipps MobilePay refused this box's credentials: a technician must check the settings"
	}
	return fmt.Sprintf("The payment request could not be sent within %v (%s). Take another means of payment.", a.CustomerPresentWindow(), why)
}
