package agenttest_test

import (
	"context"
	"testing"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
)

const qr = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"

// A sale on the rig goes through against the simulator; after a restart
// on the same file the till still knows it, and the log names it.
func TestRigSaleAndRestart(t *testing.T) {
	r := agenttest.New(t, agenttest.Options{Agent: agenttest.Fast()})
	s, err := r.Agent.CreateSale(context.Background(), agent.SaleRequest{Amount: 4990, Currency: "NOK",
		Customer: &agent.Customer{PersonalQR: qr}})
	if err != nil {
		t.Fatal(err)
	}
	agenttest.Until(t, "the sale to be completed", func() bool {
		got, err := r.Agent.GetSale(s.Reference)
		return err == nil && got.State == agent.Completed
	})
	r.Stop()
	r.Start(r.SimURL)
	got, err := r.Agent.GetSale(s.Reference)
	if err != nil || got.State != agent.Completed || got.Aggregate.Captured != 4990 {
		t.Errorf("after a restart: %+v, %v", got, err)
	}
	if lines := r.Logs.Lines("part=agent", s.Reference); len(lines) == 0 {
		t.Errorf("the agent's log does not name the sale:\n%s", r.Logs)
	}
}
