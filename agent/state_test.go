package agent_test

import (
	"testing"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
)

// TestRefundStates: a refund of part of what was captured is told apart
// from a refund of all of it, also when only part of the amount was
// captured and the rest released.
func TestRefundStates(t *testing.T) {
	nok := func(v int64) epayment.Amount { return epayment.Amount{Currency: "NOK", Value: v} }
	for _, c := range []struct {
		authorized, captured, cancelled, refunded int64
		want                                      agent.State
	}{
		{1000, 1000, 0, 0, agent.Completed},
		{1000, 1000, 0, 1, agent.PartiallyRefunded},
		{1000, 1000, 0, 999, agent.PartiallyRefunded},
		{1000, 1000, 0, 1000, agent.Refunded},
		{1000, 600, 400, 300, agent.PartiallyRefunded},
		{1000, 600, 400, 600, agent.Refunded},
	} {
		p := &epayment.Payment{State: epayment.StateAuthorized, Aggregate: epayment.Aggregate{AuthorizedAmount: nok(c.authorized),
			CapturedAmount: nok(c.captured), CancelledAmount: nok(c.cancelled), RefundedAmount: nok(c.refunded)}}
		if got := agent.StateOfPayment(p, 1000, false); got != c.want || !got.Outcome() {
			t.Errorf("captured %d, released %d, refunded %d: %s (outcome %v), want %s", c.captured, c.cancelled, c.refunded, got, got.Outcome(), c.want)
		}
	}
}

func TestMinor(t *testing.T) {
	for v, want := range map[int64]string{0: "0", 5: "5", 999: "999", 1000: "1 000", 4990: "4 990", 49900: "49 900",
		1234567: "1 234 567", -5000: "-5 000", 65000000: "65 000 000"} {
		if got := agent.Minor(v); got != want {
			t.Errorf("Minor(%d) = %q, want %q", v, got, want)
		}
	}
}
