package agent_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

// The customer-present window changes while the agent runs: a sale made
// after the change is abandoned by the new window, and out-of-range values
// are refused.
func TestCustomerPresentWindowChangesLive(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	r := idleRig(t, sim.Options{}, fast(), store.Options{}) // the default window: 2m
	r.start(dead)
	if got := r.agent.CustomerPresentWindow(); got != 2*time.Minute {
		t.Fatalf("window %v, want the default 2m", got)
	}
	for _, bad := range []time.Duration{0, 500 * time.Millisecond, 11 * time.Minute} {
		if err := r.agent.SetCustomerPresentWindow(bad); err == nil {
			t.Errorf("SetCustomerPresentWindow(%v) accepted", bad)
		}
	}
	if err := r.agent.SetCustomerPresentWindow(time.Second); err != nil {
		t.Fatal(err)
	}
	if got := r.agent.Options().CustomerPresentWindow; got != time.Second {
		t.Errorf("Options().CustomerPresentWindow = %v, want 1s", got)
	}
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	s := r.waitState(ref, agent.Abandoned)
	if !strings.Contains(s.Message, "within 1s") {
		t.Errorf("abandoned with %q, want the new window (1s) named", s.Message)
	}
}
