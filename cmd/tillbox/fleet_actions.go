package main

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/agent/version"
	"github.com/tillbox/tillbox/display/technician"
)

// Remote technician actions (docs/chain.md, "Remote technician actions"):
// headquarters asks over the link (agent/fleet, actions.go) for what the
// technician page offers on the box itself — the status, the log's tail
// with its level filter, a test payment, the scanners and their latest
// scans, a restart that waits while a payment is in flight — and the
// answers here are the page's own, masked the same way.

// processStarted is when this process started: a restart (execve) makes a
// new one, so headquarters sees the restart in the status.
var processStarted = time.Now()

// The default wait of a test payment (a restart waits only as long as
// asked).
const (
	testPaymentFollow = time.Minute // a test payment followed until its outcome
)

// boxActions answers headquarters' actions for m.
type boxActions struct {
	m     *Main
	scans *technician.ScanLog
}

// fleetActions is the link's Options.Act: it watches the agent's scans
// from now on (for the scanner check) and answers each action.
func (m *Main) fleetActions() func(context.Context, wire.ActionRequest) wire.ActionReply {
	classifier, err := m.Config.Scan.Classifier()
	if err != nil {
		classifier = nil // the default patterns; run refuses a bad scan.pattern before this
	}
	b := &boxActions{m: m, scans: technician.NewScanLog(classifier)}
	m.agent.Watch(agent.Watcher{Scan: b.scans.Watch})
	return b.act
}

func (b *boxActions) act(ctx context.Context, req wire.ActionRequest) wire.ActionReply {
	switch req.Action {
	case wire.ActionStatus:
		return b.status()
	case wire.ActionLogs:
		return b.logs(req.Args)
	case wire.ActionTestPayment:
		return b.testPayment(ctx, req.Args)
	case wire.ActionScanners:
		return b.scanners()
	case wire.ActionRestart:
		return b.restart(ctx, req.Args)
	}
	return refused("unknown action " + req.Action)
}

func refused(why string) wire.ActionReply {
	return wire.ActionReply{Outcome: wire.OutcomeRefused, Error: why}
}

func failed(err error) wire.ActionReply {
	return wire.ActionReply{Outcome: wire.OutcomeFailed, Error: err.Error()}
}

// status is the box's health now, as its heartbeat and technician page say.
func (b *boxActions) status() wire.ActionReply {
	m := b.m
	h := m.describe()
	st := &wire.BoxStatus{Version: version.String(), Started: processStarted, Online: h.Online, Queue: h.Queue,
		Scanners: h.Scanners, LastError: h.LastError, InFlight: []string{}}
	if as, err := m.agent.Status(); err == nil {
		st.Auth, st.Unfinished, st.LastSeq = as.Auth, as.Unfinished, as.LastSeq
	}
	if busy, err := m.agent.Busy(); err == nil {
		st.InFlight = busy.InFlight
	}
	if m.fleet != nil {
		fs := m.fleet.link.Status()
		st.LastSeq, st.Shipped = fs.LastSeq, fs.Shipped
	}
	return wire.ActionReply{Status: st}
}

// logs is the newest records of the log's tail at the level or above.
func (b *boxActions) logs(a wire.ActionArgs) wire.ActionReply {
	name := a.Level
	if name == "" {
		name = "info"
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(name)); err != nil {
		return refused("level " + name + ": use debug, info, warn or error")
	}
	limit := a.Limit
	if limit == 0 {
		limit = wire.DefaultLogRecords
	}
	tail := &wire.LogTail{Level: name, Records: []wire.LogRecord{}}
	if b.m.tail != nil {
		recs := b.m.tail.Records(0, level)
		recs = recs[max(0, len(recs)-limit):]
		for _, r := range recs {
			tail.Records = append(tail.Records, wire.LogRecord{Time: r.Time, Level: r.Level, Message: r.Message, Attrs: r.Attrs})
		}
	}
	return wire.ActionReply{Logs: tail}
}

// testPayment makes a test payment as the technician page does (the
// currency's smallest amount, to the phone number or the next scan; only
// against the test environment or a simulator) and follows it until its
// outcome or the wait.
func (b *boxActions) testPayment(ctx context.Context, a wire.ActionArgs) wire.ActionReply {
	m := b.m
	if !testPaymentsAllowed(m.Config) {
		return refused("test payments are allowed only in the test environment or against a simulator")
	}
	cur := m.agent.Options().Currency
	amount, ok := epayment.MinAmount(cur)
	if !ok {
		amount = 100
	}
	req := agent.SaleRequest{Amount: amount, Currency: string(cur), Description: technician.TestPaymentDescription, Capture: "auto"}
	if phone := strings.NewReplacer(" ", "", "+", "", "-", "").Replace(a.Phone); phone != "" {
		req.Customer = &agent.Customer{PhoneNumber: phone}
	}
	sale, err := m.agent.CreateSale(ctx, req)
	if err != nil {
		if ve, ok := errors.AsType[*agent.ValidationError](err); ok && ve.Field == "customer.phoneNumber" {
			return refused("the phone number is not one: give the country code and the number, e.g. 4798765432")
		}
		return refused("the test payment was refused: " + err.Error())
	}
	m.log.Info("test payment for headquarters", "reference", sale.Reference, "amount", amount, "currency", cur)
	wait := a.Wait()
	if a.WaitSeconds == 0 {
		wait = testPaymentFollow
	}
	sale = b.follow(ctx, sale, wait)
	tp := technician.TestPaymentOf(sale)
	return wire.ActionReply{TestPayment: &wire.TestPayment{Reference: tp.Reference, Amount: sale.Amount, Currency: sale.Currency,
		Customer: tp.Customer, State: tp.State, Says: tp.Says, Done: tp.Done, Good: tp.Good, Message: tp.Message}}
}

// follow waits until sale has its outcome, wait passes or ctx ends, and
// returns it as it is then.
func (b *boxActions) follow(ctx context.Context, sale agent.Sale, wait time.Duration) agent.Sale {
	a := b.m.agent
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for !sale.Outcome {
		changed := a.EventsChanged()
		if s, err := a.GetSale(sale.Reference); err == nil {
			sale = s
			if sale.Outcome {
				break
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			return sale
		case <-ctx.Done():
			return sale
		}
	}
	return sale
}

// scanners is the scanners' state and the latest scans, masked.
func (b *boxActions) scanners() wire.ActionReply {
	c := &wire.ScannerCheck{Scanners: []wire.ScannerState{}, Scans: []wire.Scan{}}
	for _, s := range b.m.scanners.Statuses() {
		c.Scanners = append(c.Scanners, wire.ScannerState{Name: s.Name, Driver: s.Driver, Connected: s.Connected, Path: s.Path,
			Product: s.Product, Scans: s.Scans, LastScanAt: s.LastScanAt, LastScan: s.LastScan, LastError: s.LastError})
	}
	for _, s := range b.scans.Latest() {
		c.Scans = append(c.Scans, wire.Scan{At: s.At, Sent: s.Sent, TakenFor: s.TakenFor, Outcome: s.Outcome,
			Reference: s.Reference, Message: s.Message})
	}
	return wire.ActionReply{Scanners: c}
}

// restart restarts the box as the technician page does (restart.go: the
// process shuts down gracefully and executes itself again; under systemd
// the service never stops), once no payment is in flight: it waits up to
// the wait asked (none: 0) for those in flight, and refuses when some
// still are.
func (b *boxActions) restart(ctx context.Context, a wire.ActionArgs) wire.ActionReply {
	m := b.m
	wait := a.Wait()
	began := time.Now()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	logged := false
	for {
		changed := m.agent.EventsChanged()
		inFlight, err := m.requestRestart(false)
		if err != nil {
			return failed(err)
		}
		waited := time.Since(began).Seconds()
		if len(inFlight) == 0 {
			m.log.Info("restarting (asked by headquarters)", "waited", time.Since(began).Round(time.Millisecond))
			return wire.ActionReply{Restart: &wire.RestartReply{Restarting: true, WaitedSeconds: waited, Started: processStarted}}
		}
		if !logged {
			m.log.Info("restart asked by headquarters: waiting for the payments in flight", "inFlight", inFlight, "wait", wait)
			logged = true
		}
		refuse := func() wire.ActionReply {
			rep := refused("not restarted: " + plural(len(inFlight), "payment") + " still in flight: " + strings.Join(inFlight, " "))
			rep.Restart = &wire.RestartReply{InFlight: inFlight, WaitedSeconds: waited, Started: processStarted}
			return rep
		}
		select {
		case <-changed:
		case <-deadline.C:
			return refuse()
		case <-ctx.Done():
			return refuse()
		}
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
