package crashtest

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

// finding is one broken promise: the rule (numbered as in issue 3 §6 and
// the package documentation), the sale ("" for the whole run) and what
// was seen.
type finding struct {
	rule string
	ref  string
	what string
}

// facts is what the checks of a round compare: what the POS sent and saw,
// what the agent's store holds, and what the simulator did.
type facts struct {
	sales    []posSale
	sent     map[string]bool // every reference the POS ever sent
	events   map[string][]agent.Event
	seen     []seenEvent
	problems []string // found by the POS as it went
	stored   map[string]*store.Sale
	log      []store.Event // the store's event log from the round's first seq
	stats    store.Stats
	payments map[string][]sim.PaymentInfo // the simulator's, by reference
}

// check runs the checks of a round and reports every finding with its
// evidence.
func (w *world) check(round int, firstSeq uint64) {
	t := w.t
	var f facts
	f.sales, f.events, f.seen, f.sent, f.problems = w.pos.snapshot()
	refs := make([]string, len(f.sales))
	for i, s := range f.sales {
		refs[i] = s.ref
	}
	var err error
	f.stored, f.log, f.stats, err = w.readStore(refs, firstSeq)
	if err != nil {
		t.Fatalf("round %d: the store after the last kill: %v", round, err)
	}
	f.payments = map[string][]sim.PaymentInfo{}
	for _, p := range w.sim.ListPayments(sim.PaymentFilter{MSN: msn}) {
		f.payments[p.Reference] = append(f.payments[p.Reference], p)
	}

	var found []finding
	for _, p := range f.problems {
		found = append(found, finding{rule: "2 the POS's own view", what: p})
	}
	found = append(found, checkSales(&f)...)
	found = append(found, checkPayments(&f)...)
	found = append(found, checkEventLog(&f)...)
	found = append(found, w.checkAgentLog()...)
	if f.stats.Commands != 0 || f.stats.Unfinished != 0 {
		found = append(found, finding{rule: "1 one outcome", what: fmt.Sprintf("the store still has %d commands and %d unfinished sales", f.stats.Commands, f.stats.Unfinished)})
	}

	outcomes := map[string]int{}
	for _, s := range f.sales {
		if st := f.stored[s.ref]; st != nil {
			outcomes[st.State]++
			w.outcomes[st.State]++
		}
	}
	t.Logf("round %d: %d sales %v, %d events (seq %d to %d), %d simulator payments; store: %d sales, file %d kB",
		round, len(f.sales), outcomes, len(f.log), firstSeq, f.stats.LastSeq, len(f.payments), f.stats.Sales, f.stats.FileSize>>10)
	if len(found) == 0 {
		return
	}
	w.report(found, &f)
}

// report fails the test with each finding, the first ones with the sale's
// evidence.
func (w *world) report(found []finding, f *facts) {
	const withEvidence = 10
	var refs []string
	for _, fd := range found {
		if fd.ref != "" && len(refs) < withEvidence && !slices.Contains(refs, fd.ref) {
			refs = append(refs, fd.ref)
		}
	}
	logs := w.agentLogLines(refs, 40)
	shown := map[string]bool{}
	for _, fd := range found {
		msg := fmt.Sprintf("[%s] %s", fd.rule, fd.what)
		if fd.ref != "" {
			msg = fmt.Sprintf("[%s] %s: %s", fd.rule, fd.ref, fd.what)
		}
		if fd.ref != "" && slices.Contains(refs, fd.ref) && !shown[fd.ref] {
			shown[fd.ref] = true
			msg += "\n" + evidence(fd.ref, f, logs[fd.ref])
		}
		w.t.Error(msg)
	}
	w.t.Errorf("%d findings; the agent's log: %s (kept with -dir)", len(found), w.logPath)
}

// checkSales checks every sale the POS sent this round.
func checkSales(f *facts) []finding {
	var out []finding
	add := func(rule, ref, format string, a ...any) {
		out = append(out, finding{rule: rule, ref: ref, what: fmt.Sprintf(format, a...)})
	}
	for _, s := range f.sales {
		if !s.accepted {
			add("1 one outcome", s.ref, "the agent never accepted the sale (%d POSTs)", s.posts)
			continue
		}
		st := f.stored[s.ref]
		if st == nil {
			add("1 one outcome", s.ref, "accepted (answer %s), but the store has no such sale", s.answer.State)
			continue
		}
		state := agent.State(st.State)
		if !state.Outcome() || !st.Final {
			add("1 one outcome", s.ref, "no final outcome: state %s, final %v", state, st.Final)
		}

		evs := f.events[s.ref]
		var outcomes []string
		for _, ev := range evs {
			if ev.State.Outcome() {
				outcomes = append(outcomes, fmt.Sprintf("%d:%s", ev.Seq, ev.State))
			}
		}
		switch {
		case len(evs) == 0:
			add("2 reported once", s.ref, "the POS saw no event of it")
		case len(outcomes) != 1 && (len(outcomes) > 0 || state.Outcome()):
			add("2 reported once", s.ref, "the POS saw %d outcome events: %v", len(outcomes), outcomes)
		}
		if len(evs) > 0 && evs[len(evs)-1].State != state {
			add("2 reported once", s.ref, "the last event the POS saw says %s, the sale is %s", evs[len(evs)-1].State, state)
		}
		// The log is headquarters' journal too: its last event of a sale
		// must tell when the sale finished, or headquarters never learns.
		if last := len(evs) - 1; last >= 0 && st.Final && !evs[last].Sale.FinishedAt.Equal(st.FinishedAt) {
			add("2 reported once", s.ref, "the last event (%d) says finished at %v, the sale finished at %v", evs[last].Seq, evs[last].Sale.FinishedAt, st.FinishedAt)
		}

		pays := f.payments[s.ref]
		var pay *sim.PaymentInfo
		if len(pays) > 0 {
			pay = &pays[0]
		}
		if len(pays) > 1 {
			add("3 created once", s.ref, "%d payments at Vipps MobilePay", len(pays))
		}
		if pay != nil && pay.Amount.Value != s.req.Amount {
			add("3 created once", s.ref, "the payment is of %d, the sale of %d", pay.Amount.Value, s.req.Amount)
		}
		out = append(out, checkOutcome(s, state, st, pay)...)
	}
	return out
}

// checkOutcome checks that the sale's outcome is what happened at Vipps
// MobilePay (pay is nil when no payment exists).
func checkOutcome(s posSale, state agent.State, st *store.Sale, pay *sim.PaymentInfo) []finding {
	var out []finding
	add := func(rule, format string, a ...any) {
		out = append(out, finding{rule: rule, ref: s.ref, what: fmt.Sprintf(format, a...)})
	}
	vipps := "no payment"
	if pay != nil {
		vipps = fmt.Sprintf("the payment is %s with %s", pay.State, aggregateText(pay.Aggregate))
	}
	switch state {
	case agent.Completed:
		if pay == nil || pay.State != epayment.StateAuthorized || pay.Aggregate.CapturedAmount.Value != s.req.Amount {
			add("5 captured in full", "completed, but %s (amount %d)", vipps, s.req.Amount)
		}
		if st.Aggregate.Captured != s.req.Amount {
			add("5 captured in full", "completed with %d captured of %d in the sale", st.Aggregate.Captured, s.req.Amount)
		}
	case agent.Declined:
		if pay == nil || pay.State != epayment.StateAborted {
			add("1 one outcome", "declined, but %s", vipps)
		}
	case agent.Cancelled:
		released := pay != nil && pay.State == epayment.StateAuthorized && pay.Aggregate.CapturedAmount.Value == 0 &&
			pay.Aggregate.CancelledAmount.Value == pay.Aggregate.AuthorizedAmount.Value
		if pay != nil && pay.State != epayment.StateTerminated && !released {
			add("1 one outcome", "cancelled, but %s", vipps)
		}
	case agent.Abandoned:
		switch {
		case pay != nil && pay.State == epayment.StateAuthorized && uncaptured(pay) > 0:
			add("7 abandoned: no authorisation", "abandoned, but %s: the customer's money is reserved", vipps)
		case pay != nil:
			add("7 abandoned: never sent", "abandoned, but %s: the push reached a customer the POS was told had left", vipps)
		}
	case agent.Expired:
		if pay == nil || pay.State != epayment.StateExpired {
			add("1 one outcome", "expired, but %s", vipps)
		}
	case agent.Failed:
		add("1 one outcome", "failed (code %q: %s), though every sale sent is valid; %s", st.ErrorCode, st.ErrorMessage, vipps)
	}
	if pay != nil && pay.Aggregate.CapturedAmount.Value > 0 && state != agent.Completed {
		add("5 captured in full", "%d captured at Vipps MobilePay, but the sale is %s", pay.Aggregate.CapturedAmount.Value, state)
	}
	if c := s.cancelAnswer; c != nil && !c.State.Outcome() && !capturable(c.State) && state == agent.Completed {
		add("cancel honoured", "the POS cancelled while the sale was %s (answer 2xx), yet it was captured: %s", c.State, vipps)
	}
	return out
}

// capturable: a capture may already be under way in this state, so a
// cancel may come too late.
func capturable(s agent.State) bool { return s == agent.Authorized || s == agent.Capturing }

// checkPayments checks every payment of the simulator.
func checkPayments(f *facts) []finding {
	var out []finding
	refs := make([]string, 0, len(f.payments))
	for ref := range f.payments {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		for _, p := range f.payments[ref] {
			add := func(rule, format string, a ...any) {
				out = append(out, finding{rule: rule, ref: ref, what: fmt.Sprintf(format, a...)})
			}
			ag := p.Aggregate
			if !f.sent[ref] {
				add("3 created once", "a payment (%s) for a reference the POS never sent", p.State)
			}
			if p.Ops.Create > 1 {
				add("3 created once", "created %d times", p.Ops.Create)
			}
			if p.Ops.Capture > 1 {
				add("4 captured once", "%d captures applied (%s)", p.Ops.Capture, aggregateText(ag))
			}
			if ag.CapturedAmount.Value > ag.AuthorizedAmount.Value {
				add("4 captured once", "captured more than authorised: %s", aggregateText(ag))
			}
			if p.State == epayment.StateAuthorized && uncaptured(&p) > 0 {
				add("6 nothing dangling", "authorised and left: %s", aggregateText(ag))
			}
		}
	}
	return out
}

// checkEventLog compares the events the POS read with the store's log.
func checkEventLog(f *facts) []finding {
	var out []finding
	if len(f.seen) != len(f.log) {
		out = append(out, finding{rule: "2 reported once", what: fmt.Sprintf("the POS read %d events of the round, the store's log holds %d", len(f.seen), len(f.log))})
	}
	for i := range min(len(f.seen), len(f.log)) {
		got, want := f.seen[i], f.log[i]
		if got.seq != want.Seq || got.ref != want.Reference || string(got.state) != want.State {
			out = append(out, finding{rule: "2 reported once", ref: got.ref, what: fmt.Sprintf("the POS read event %d as %s %s, the store's log has %d %s %s",
				got.seq, got.ref, got.state, want.Seq, want.Reference, want.State)})
			break
		}
	}
	return out
}

// checkAgentLog scans the output of the round's agent processes for races
// and panics.
func (w *world) checkAgentLog() []finding {
	f, err := os.Open(w.logPath)
	if err != nil {
		return []finding{{rule: "agent log", what: err.Error()}}
	}
	defer f.Close()
	var out []finding
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
			if strings.Contains(line, bad) && len(out) < 10 {
				out = append(out, finding{rule: "agent log", what: fmt.Sprintf("an agent process wrote %q", strings.TrimSpace(line))})
			}
		}
		if err != nil {
			return out
		}
	}
}

// agentLogLines returns up to max lines of the agent's log for each of refs.
func (w *world) agentLogLines(refs []string, max int) map[string][]string {
	out := map[string][]string{}
	if len(refs) == 0 {
		return out
	}
	f, err := os.Open(w.logPath)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, ref := range refs {
			if strings.Contains(line, ref) && len(out[ref]) < max {
				out[ref] = append(out[ref], line)
			}
		}
	}
	return out
}

// logTail returns the last n lines of the agent's log.
func (w *world) logTail(n int) string {
	b, err := os.ReadFile(w.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return "the agent's log ends:\n" + strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// evidence describes a sale as the POS, the store and the simulator know it.
func evidence(ref string, f *facts, logLines []string) string {
	var b strings.Builder
	for _, s := range f.sales {
		if s.ref != ref {
			continue
		}
		fmt.Fprintf(&b, "    POS: amount %d, app %s after %v, %d POSTs, accepted %v (answer %s)",
			s.req.Amount, s.app.Action, s.app.Delay, s.posts, s.accepted, s.answer.State)
		if s.cancel {
			fmt.Fprintf(&b, "; cancelled with %d calls", s.cancels)
			if s.cancelAnswer != nil {
				fmt.Fprintf(&b, " (answer: %s)", s.cancelAnswer.State)
			}
			if s.cancelRefusal != "" {
				fmt.Fprintf(&b, " (refused: %s)", s.cancelRefusal)
			}
		}
		b.WriteString("\n")
	}
	if st := f.stored[ref]; st != nil {
		fmt.Fprintf(&b, "    store: %s final=%v vipps=%s aggregate %+v error %q %q created %s updated %s\n",
			st.State, st.Final, st.VippsState, st.Aggregate, st.ErrorCode, st.ErrorMessage,
			st.CreatedAt.Format("15:04:05.000"), st.UpdatedAt.Format("15:04:05.000"))
	}
	var evs []string
	for _, ev := range f.events[ref] {
		evs = append(evs, fmt.Sprintf("%d:%s(captured %d, code %q)", ev.Seq, ev.State, ev.Sale.Aggregate.Captured, ev.Sale.ErrorCode))
	}
	fmt.Fprintf(&b, "    events the POS read: %s\n", strings.Join(evs, " "))
	for _, p := range f.payments[ref] {
		fmt.Fprintf(&b, "    simulator: %s, amount %d, %s, ops %+v, created %s\n", p.State, p.Amount.Value,
			aggregateText(p.Aggregate), p.Ops, p.CreatedAt.Local().Format("15:04:05.000"))
		for _, e := range p.Events {
			key := ""
			if e.IdempotencyKey != nil {
				key = *e.IdempotencyKey
			}
			fmt.Fprintf(&b, "      %s %s %d success=%v key=%q\n", e.Timestamp.Local().Format("15:04:05.000"), e.Name, e.Amount.Value, e.Success, key)
		}
	}
	if len(f.payments[ref]) == 0 {
		b.WriteString("    simulator: no payment\n")
	}
	for _, l := range logLines {
		b.WriteString("    log: " + l + "\n")
	}
	return b.String()
}

func uncaptured(p *sim.PaymentInfo) int64 {
	ag := p.Aggregate
	return ag.AuthorizedAmount.Value - ag.CapturedAmount.Value - ag.CancelledAmount.Value
}

func aggregateText(ag epayment.Aggregate) string {
	return fmt.Sprintf("authorised %d, captured %d, cancelled %d, refunded %d", ag.AuthorizedAmount.Value,
		ag.CapturedAmount.Value, ag.CancelledAmount.Value, ag.RefundedAmount.Value)
}
