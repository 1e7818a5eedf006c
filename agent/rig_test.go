package agent_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

const (
	vippsQR  = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"
	otherQR  = "https://qr.vipps.no/28/2/01/031/4798765432?v=1"
	clientID = "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"
)

// rig is one till (agent/agenttest): a real bbolt file, the simulator on
// loopback, and an agent whose loops run until the test ends.
type rig struct {
	*agenttest.Rig
	t     *testing.T
	sim   *sim.Server
	db    *store.DB // the open store: it changes when the test restarts the till
	agent *agent.Agent
}

// fast are options that make a sale go through in well under a second.
func fast() agent.Options { return agenttest.Fast() }

// newRig starts a till whose simulator has simOpts and agent opts.
func newRig(t *testing.T, simOpts sim.Options, opts agent.Options) *rig {
	t.Helper()
	r := idleRig(t, simOpts, opts, store.Options{})
	r.start(r.SimURL)
	return r
}

// idleRig makes the simulator only: the test calls r.start with the
// address the agent is to call (a dead one, a proxy in front of r.sim).
func idleRig(t *testing.T, simOpts sim.Options, opts agent.Options, so store.Options) *rig {
	t.Helper()
	k := agenttest.New(t, agenttest.Options{Sim: simOpts, Agent: opts, Store: so, NoStart: true,
		Vipps: epayment.Config{ClientID: clientID}})
	return &rig{Rig: k, t: t, sim: k.Sim}
}

// start opens the store and runs an agent against baseURL.
func (r *rig) start(baseURL string) {
	r.t.Helper()
	r.Start(baseURL)
	r.db, r.agent = r.DB, r.Agent
}

// stop ends the agent's loops and closes the store (idempotent).
func (r *rig) stop() { r.Stop() }

func (r *rig) sale(req agent.SaleRequest) agent.Sale {
	r.t.Helper()
	if req.Currency == "" {
		req.Currency = "NOK"
	}
	s, err := r.agent.CreateSale(context.Background(), req)
	if err != nil {
		r.t.Fatalf("CreateSale: %v", err)
	}
	return s
}

// waitState waits for the sale to reach want.
func (r *rig) waitState(ref string, want agent.State) agent.Sale {
	r.t.Helper()
	var s agent.Sale
	defer func() {
		if s.State != want {
			r.t.Logf("sale %s is %s (%s)", ref, s.State, s.Message)
		}
	}()
	agenttest.Until(r.t, fmt.Sprintf("sale %s to be %s", ref, want), func() bool {
		var err error
		s, err = r.agent.GetSale(ref)
		return err == nil && s.State == want
	})
	return s
}

// simPayment is the simulator's record of a reference (ok false if none).
func (r *rig) simPayment(ref string) (sim.PaymentInfo, bool) {
	for _, p := range r.sim.Payments() {
		if p.Reference == ref {
			return p, true
		}
	}
	return sim.PaymentInfo{}, false
}

// states returns the states the event log reported for ref, in order.
func (r *rig) states(ref string) []agent.State {
	evs, err := r.agent.Events(context.Background(), 0, 1000, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []agent.State
	for _, e := range evs {
		if e.Reference == ref {
			out = append(out, e.State)
		}
	}
	return out
}

var refN atomic.Int64

func ref() string { return fmt.Sprintf("test-ref-%06d", refN.Add(1)) }
