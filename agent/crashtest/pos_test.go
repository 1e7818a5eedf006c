package crashtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/posapi"
)

// The stream of sales the POS sends.
const (
	salesInFlight = 3    // sales being sent (or repeated) at once
	cancelShare   = 0.08 // of the sales, cancelled by the POS soon after
	rejectShare   = 0.15 // of the customers, reject in the app
)

// pos plays the cash register: it sends a stream of sales, repeating each
// request until the agent answers it, cancels a few, and follows the event
// log from the last seq it handled, across the agent's restarts.
type pos struct {
	ep    *endpoint
	token epayment.Secret
	hc    *http.Client
	sim   *sim.Server
	// kick gets a value (without blocking) when the agent answered a sale or
	// a cancel: the kill loop may strike right after.
	kick chan struct{}

	mu       sync.Mutex
	round    int
	next     int                 // number of the next sale
	sales    map[string]*posSale // the sales of the current round
	order    []string            // their references, as sent
	sent     map[string]bool     // every reference ever sent
	events   map[string][]agent.Event
	seen     []seenEvent // the events of the current round, in order
	lastSeq  uint64
	problems []string       // what the POS itself found wrong
	counts   map[string]int // calls and answers, for the figures
	nEvents  int
}

// posSale is one sale as the POS knows it.
type posSale struct {
	ref    string
	req    agent.SaleRequest
	app    sim.AppPolicy
	cancel bool // the POS cancels it once accepted

	posts    int // POST /sales sent
	accepted bool
	answer   agent.Sale // the first 2xx answer

	cancels       int         // cancel calls sent
	cancelAnswer  *agent.Sale // the 2xx answer of the cancel
	cancelRefusal string      // the error code when the agent refused it
}

// seenEvent is an event as the POS saw it, in short.
type seenEvent struct {
	seq   uint64
	ref   string
	state agent.State
}

func newPOS(ep *endpoint, token epayment.Secret, s *sim.Server) *pos {
	return &pos{
		ep: ep, token: token, sim: s, kick: make(chan struct{}, 1),
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: salesInFlight + 2, IdleConnTimeout: 30 * time.Second}},
		sales: map[string]*posSale{}, sent: map[string]bool{},
		events: map[string][]agent.Event{}, counts: map[string]int{},
	}
}

// beginRound starts the bookkeeping of a round: the checks of the previous
// one are done, so its sales are forgotten (their references are kept).
func (p *pos) beginRound(round int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.round, p.next = round, 0
	p.sales, p.order, p.seen = map[string]*posSale{}, nil, nil
	p.events = map[string][]agent.Event{}
}

func (p *pos) count(what string) {
	p.mu.Lock()
	p.counts[what]++
	p.mu.Unlock()
}

func (p *pos) problem(format string, a ...any) {
	p.mu.Lock()
	p.problems = append(p.problems, fmt.Sprintf(format, a...))
	p.mu.Unlock()
}

// sell sends sales until stop closes, and returns once every sale it sent
// was accepted (or ctx ended).
func (p *pos) sell(ctx context.Context, stop <-chan struct{}) {
	slots := make(chan struct{}, salesInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case slots <- struct{}{}:
		}
		s := p.newSale()
		wg.Go(func() {
			defer func() { <-slots }()
			p.runSale(ctx, s)
		})
		if !pause(ctx, stop, randDuration(30*time.Millisecond, 100*time.Millisecond)) {
			return
		}
	}
}

// newSale makes the next sale: a unique reference, an amount of 10 to 1000
// kroner (never one of the simulator's magic amounts), a personal QR code
// in one of the forms the simulator knows, sometimes receipt lines, and
// what the customer will do in the app.
func (p *pos) newSale() *posSale {
	p.mu.Lock()
	p.next++
	ref := fmt.Sprintf("crash-r%02d-%06d", p.round, p.next)
	p.mu.Unlock()

	amount := 1000 + rand.Int64N(99_000)
	req := agent.SaleRequest{Reference: ref, Amount: amount, Currency: "NOK",
		Description: "Crash test " + ref, Customer: &agent.Customer{PersonalQR: randomQR()}}
	if rand.N(2) == 0 {
		first := amount / 3
		req.Lines = []agent.Line{
			{Name: "Kaffe", Amount: first, TaxRate: 1500},
			{Name: "Bolle", Amount: amount - first, TaxRate: 1500, Quantity: "2"},
		}
	}
	app := sim.AppPolicy{Action: sim.Approve, Delay: randDuration(20*time.Millisecond, 200*time.Millisecond)}
	if rand.Float64() < rejectShare {
		app.Action = sim.Reject
	}
	s := &posSale{ref: ref, req: req, app: app, cancel: rand.Float64() < cancelShare}
	p.sim.SetApp("ref:"+ref, app)

	p.mu.Lock()
	defer p.mu.Unlock()
	p.sales[ref] = s
	p.order = append(p.order, ref)
	p.sent[ref] = true
	return s
}

// randomQR is a personal QR code the simulator accepts: the tokenised code
// of a seeded user, or a clear-text Vipps code of an eligible number.
func randomQR() string {
	users := sim.SeedUsers()
	if u := users[rand.N(len(users))]; rand.N(2) == 0 && u.PersonalQR() != "" {
		return u.PersonalQR()
	}
	return fmt.Sprintf("https://qr.vipps.no/28/2/01/031/479%07d?v=1", rand.N(10_000_000))
}

// runSale sends one sale until the agent accepts it, then maybe cancels it.
func (p *pos) runSale(ctx context.Context, s *posSale) {
	err := p.call(ctx, "create", func(c *posapi.Client) error {
		p.mu.Lock()
		s.posts++
		p.mu.Unlock()
		sale, _, err := c.CreateSale(ctx, s.req)
		if err != nil {
			return err
		}
		p.mu.Lock()
		s.accepted, s.answer = true, sale
		p.mu.Unlock()
		if sale.Reference != s.ref || sale.Amount != s.req.Amount {
			p.problem("%s: the agent accepted the sale as %s of %d", s.ref, sale.Reference, sale.Amount)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			p.problem("%s: the agent refused the sale: %v", s.ref, err)
		}
		return
	}
	p.strikeNow()
	if !s.cancel || !pause(ctx, nil, randDuration(0, 300*time.Millisecond)) {
		return
	}
	err = p.call(ctx, "cancel", func(c *posapi.Client) error {
		p.mu.Lock()
		s.cancels++
		p.mu.Unlock()
		sale, err := c.CancelSale(ctx, s.ref)
		if err != nil {
			return err
		}
		p.mu.Lock()
		s.cancelAnswer = &sale
		p.mu.Unlock()
		return nil
	})
	var apiErr *posapi.Error
	switch {
	case err == nil:
		p.strikeNow()
	case errors.As(err, &apiErr) && errors.Is(err, agent.ErrWrongState):
		p.mu.Lock()
		s.cancelRefusal = apiErr.Code
		p.mu.Unlock()
	case ctx.Err() == nil:
		p.problem("%s: cancel: %v", s.ref, err)
	}
}

// strikeNow tells the kill loop that the agent just answered.
func (p *pos) strikeNow() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// call runs op against the running agent, repeating it while the agent
// does not answer (it was killed: wait for the next one) or answers 5xx. It
// returns nil, a 4xx *posapi.Error, or ctx's error.
func (p *pos) call(ctx context.Context, what string, op func(*posapi.Client) error) error {
	for {
		url, err := p.ep.await(ctx)
		if err != nil {
			return err
		}
		err = op(&posapi.Client{BaseURL: url, Token: p.token, HTTPClient: p.hc})
		var apiErr *posapi.Error
		switch {
		case err == nil:
			p.count(what + " answered")
			return nil
		case errors.As(err, &apiErr) && apiErr.Status < 500:
			p.count(fmt.Sprintf("%s answered %d %s", what, apiErr.Status, apiErr.Code))
			return err
		case errors.As(err, &apiErr):
			p.count(fmt.Sprintf("%s answered %d %s", what, apiErr.Status, apiErr.Code))
			if apiErr.Code != "queue_full" {
				p.problem("%s: the agent answered %d: %v", what, apiErr.Status, err)
			}
			if !pause(ctx, nil, 50*time.Millisecond) {
				return ctx.Err()
			}
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			p.count(what + " not answered")
			p.ep.afterFailure(ctx, url, time.Second)
		}
	}
}

// follow reads the event log with long polls, from the last seq it
// handled, until ctx ends.
func (p *pos) follow(ctx context.Context) {
	for {
		url, err := p.ep.await(ctx)
		if err != nil {
			return
		}
		c := &posapi.Client{BaseURL: url, Token: p.token, HTTPClient: p.hc}
		page, err := c.Events(ctx, p.last(), time.Second, 1000)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			p.count("events not answered")
			p.ep.afterFailure(ctx, url, time.Second)
		default:
			p.record(page.Events)
		}
	}
}

func (p *pos) last() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastSeq
}

// record handles a page of events: each must come right after the last.
func (p *pos) record(evs []agent.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range evs {
		if ev.Seq != p.lastSeq+1 {
			p.problems = append(p.problems, fmt.Sprintf("event %d (%s %s) came after event %d: the seqs must have no gaps and no repeats",
				ev.Seq, ev.Reference, ev.State, p.lastSeq))
			if ev.Seq <= p.lastSeq {
				continue // handled already
			}
		}
		p.lastSeq = ev.Seq
		p.nEvents++
		if p.sales[ev.Reference] == nil {
			p.problems = append(p.problems, fmt.Sprintf("event %d (%s %s): not a sale of this round (unknown, or finished and checked before)",
				ev.Seq, ev.Reference, ev.State))
		}
		p.events[ev.Reference] = append(p.events[ev.Reference], ev)
		p.seen = append(p.seen, seenEvent{seq: ev.Seq, ref: ev.Reference, state: ev.State})
	}
}

// snapshot copies what the checks need of the round.
func (p *pos) snapshot() (sales []posSale, events map[string][]agent.Event, seen []seenEvent, sent map[string]bool, problems []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ref := range p.order {
		sales = append(sales, *p.sales[ref])
	}
	events = make(map[string][]agent.Event, len(p.events))
	for ref, evs := range p.events {
		events[ref] = append([]agent.Event(nil), evs...)
	}
	sent = make(map[string]bool, len(p.sent))
	for ref := range p.sent {
		sent[ref] = true
	}
	problems, p.problems = p.problems, nil
	return sales, events, append([]seenEvent(nil), p.seen...), sent, problems
}

// unsettled lists the accepted sales of the round whose last event is not
// an outcome yet, at most max of them, and how many there are.
func (p *pos) unsettled(max int) ([]string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	n := 0
	for _, ref := range p.order {
		s := p.sales[ref]
		evs := p.events[ref]
		if !s.accepted || (len(evs) > 0 && evs[len(evs)-1].State.Outcome()) {
			continue
		}
		n++
		if len(out) < max {
			state := "no event"
			if len(evs) > 0 {
				state = string(evs[len(evs)-1].State)
			}
			out = append(out, ref+" ("+state+")")
		}
	}
	return out, n
}

// figures summarises the POS's side of the run.
func (p *pos) figures() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, len(p.counts))
	for k := range p.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d events read", p.nEvents)
	for _, k := range keys {
		fmt.Fprintf(&b, ", %s %d", k, p.counts[k])
	}
	return b.String()
}

// pause waits for d, and reports false if ctx ended or stop closed first.
func pause(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
}

func randDuration(lo, hi time.Duration) time.Duration {
	return lo + rand.N(hi-lo+1)
}
