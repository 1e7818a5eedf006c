package agent

import (
	"fmt"
	"time"
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
