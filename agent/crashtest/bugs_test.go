package crashtest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// Focused tests of what TestCrash found, each a scenario it hit by chance,
// made to happen every time: one agent in this process, a real store and
// the simulator on loopback.

// TestCancelWhileCustomerApproves: the POS cancels a sale while the customer
// is confirming it in the app. Vipps MobilePay refuses the cancel with 6250
// ("GET the payment shortly: it will be AUTHORIZED or ABORTED"); the cancel
// must still be carried out (releasing the authorisation once it comes), and
// the POS must get an outcome. Repeating the refused cancel with the same
// Idempotency-Key gets the same 6250 for ever: a 4xx stays a 4xx for its
// key (FACTS.md §6).
func TestCancelWhileCustomerApproves(t *testing.T) {
	r := newRig(t)
	ref := "focus-cancel-6250"
	r.sim.SetApp("ref:"+ref, sim.AppPolicy{Action: sim.Ignore})
	r.sale(ref)
	r.waitState(ref, agent.AwaitingApproval)

	// The customer approves within 100 ms: all of it is mid-authorisation.
	r.sim.SetApp("ref:"+ref, sim.AppPolicy{Action: sim.Approve, Delay: 100 * time.Millisecond})
	if _, err := r.agent.CancelSale(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	s := r.waitOutcome(ref, 5*time.Second)
	p, _ := r.sim.Payment(msn, ref)
	if s.State != agent.Cancelled || uncaptured(&p) > 0 || p.Aggregate.CapturedAmount.Value > 0 {
		t.Errorf("the POS cancelled during the approval: the sale is %s, the payment %s with %s; want cancelled and released\n%s",
			s.State, p.State, aggregateText(p.Aggregate), r.logFor(ref))
	}
}

// TestRefusedCancelAfterCapture: the POS cancels while the capture is being
// retried (a 429); the capture then goes through, the sale is completed, and
// the queued cancel is refused (6040, fully captured). The POS must see the
// outcome once, and a completed sale must not carry the refusal as if the
// payment had failed.
func TestRefusedCancelAfterCapture(t *testing.T) {
	r := newRig(t)
	ref := "focus-cancel-6040"
	r.sim.SetApp("ref:"+ref, sim.AppPolicy{Action: sim.Approve, Delay: 20 * time.Millisecond})
	r.sim.SetFault(sim.Fault{Endpoint: "capturePayment", TooMany: 1, Count: 1}) // Retry-After: 1 s
	r.sale(ref)
	r.waitFor("the capture to be refused once with 429", func() bool { return len(r.sim.Faults()) == 0 })
	if _, err := r.agent.CancelSale(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	s := r.waitOutcome(ref, 5*time.Second)
	r.waitFor("the queued cancel to be done", func() bool {
		st, err := r.agent.Status()
		return err == nil && st.Queued == 0
	})
	var outcomes []string
	var last agent.Event
	for _, ev := range r.events(ref) {
		if ev.State.Outcome() {
			outcomes = append(outcomes, fmt.Sprintf("%d:%s(code %q, %q)", ev.Seq, ev.State, ev.Sale.ErrorCode, ev.Sale.Message))
		}
		last = ev
	}
	s, _ = r.agent.GetSale(ref)
	if len(outcomes) != 1 || s.ErrorCode != "" {
		t.Errorf("sale %s (code %q, %q): the POS saw %d outcome events, want 1: %v\n%s",
			s.State, s.ErrorCode, s.Message, len(outcomes), outcomes, r.logFor(ref))
	}
	// The refused cancel changed nothing: the sale finished at its
	// capture, and its outcome event says so (headquarters' finish time).
	if s.FinishedAt.IsZero() || !last.Sale.FinishedAt.Equal(s.FinishedAt) {
		t.Errorf("the sale finished at %v, its last event says %v", s.FinishedAt, last.Sale.FinishedAt)
	}
}

// rig is one agent in this process (agent/agenttest): a real store in a
// temporary directory and the simulator on loopback, the agent configured
// as the crash test's child.
type rig struct {
	*agenttest.Rig
	t     *testing.T
	sim   *sim.Server
	agent *agent.Agent
}

func newRig(t *testing.T) *rig {
	t.Helper()
	logs := agenttest.NewLogs()
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	k := agenttest.New(t, agenttest.Options{
		Sim:   sim.Options{MSN: msn, App: sim.AppPolicy{Action: sim.Approve, Delay: 50 * time.Millisecond}},
		Agent: childConfig{Window: window}.agentOptions(log),
		Vipps: epayment.Config{ClientID: clientID, ClientSecret: "crash-secret", SubscriptionKey: "crash-key"},
		Logs:  logs, Logger: log,
	})
	return &rig{Rig: k, t: t, sim: k.Sim, agent: k.Agent}
}

// sale sends a sale of 500 kroner with a personal QR code.
func (r *rig) sale(ref string) {
	r.t.Helper()
	_, err := r.agent.CreateSale(context.Background(), agent.SaleRequest{Reference: ref, Amount: 50_000, Currency: "NOK",
		Description: "Focused test", Customer: &agent.Customer{PersonalQR: sim.SeedUsers()[0].PersonalQR()}})
	if err != nil {
		r.t.Fatal(err)
	}
}

// waitFor waits for cond (agenttest.Until).
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	agenttest.Until(r.t, what, cond)
}

func (r *rig) waitState(ref string, want agent.State) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("%s to be %s", ref, want), func() bool {
		s, err := r.agent.GetSale(ref)
		return err == nil && s.State == want
	})
}

// waitOutcome waits up to d for the sale's outcome and returns the sale as
// it is then, outcome or not.
func (r *rig) waitOutcome(ref string, d time.Duration) agent.Sale {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		s, err := r.agent.GetSale(ref)
		if err != nil {
			r.t.Fatal(err)
		}
		if s.Outcome || time.Now().After(deadline) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// events returns the events of ref in the log.
func (r *rig) events(ref string) []agent.Event {
	r.t.Helper()
	evs, err := r.agent.Events(context.Background(), 0, 1000, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []agent.Event
	for _, ev := range evs {
		if ev.Reference == ref {
			out = append(out, ev)
		}
	}
	return out
}

// logFor returns the agent's log lines about ref.
func (r *rig) logFor(ref string) string {
	var out []string
	for _, l := range r.Logs.Lines() {
		if strings.Contains(l, ref) {
			out = append(out, "    log: "+l)
		}
	}
	if len(out) > 12 {
		out = append(out[:12], fmt.Sprintf("    log: ... %d lines more", len(out)-12))
	}
	return strings.Join(out, "\n")
}
