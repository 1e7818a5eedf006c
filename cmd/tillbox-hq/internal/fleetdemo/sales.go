package fleetdemo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// PersonalQR is the personal QR code the simulated customers show (Vipps'
// clear-text form; the simulator knows every such phone number).
const PersonalQR = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"

// DeclinedAmount is a magic test amount whose approval fails: the sale
// ends declined.
const DeclinedAmount = 151

// SalesOptions shape a stream of sales.
type SalesOptions struct {
	// Rate is how many sales a second the chain starts at most, all boxes
	// together (each box sells one at a time, as a till does); default 2.
	Rate float64
	// Amounts are the sales' amounts in øre, taken in turn; default a few
	// between 19.00 and 249.00 NOK.
	Amounts []int64
	// DeclineEvery makes every n-th sale of a box the DeclinedAmount; 0:
	// none.
	DeclineEvery int
	// Max stops each box after that many sales; 0: no limit.
	Max int
	// BeforeCreate is called before each sale is sent (e.g. to set the
	// simulated customer's policy for its reference).
	BeforeCreate func(b *Box, reference string)
	// OnOutcome is called with each sale that reached its outcome.
	OnOutcome func(SaleResult)
}

// Seen is one event of a sale as the POS got it.
type Seen struct {
	Seq     uint64
	State   agent.State
	Arrived time.Time // when the long-poll /api/v1/events returned it
}

// SaleResult is one sale of the stream.
type SaleResult struct {
	Till      wire.Till
	Reference string
	Amount    int64
	Created   time.Time // when the POS sent it (the first try)
	State     agent.State
	Outcome   time.Time // when its final event arrived; zero while none did
	Seen      []Seen
}

// Sales is a running stream of sales.
type Sales struct {
	c      *Chain
	o      SalesOptions
	tokens chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	started   int
	doneBoxes int
	results   []SaleResult
}

// RunSales starts a stream of sales on every box until ctx ends or Stop:
// each box rings up a sale (its own reference, <store>-<till>-NNNNNN
// numbered on across streams, so that a retry is the same sale), the customer shows a personal QR code on
// the box's scanner (or in the request with Options.NoScanner), and the
// sale is followed on the box's event log until its outcome, across
// restarts of the box.
func (c *Chain) RunSales(ctx context.Context, o SalesOptions) *Sales {
	if o.Rate <= 0 {
		o.Rate = 2
	}
	if len(o.Amounts) == 0 {
		o.Amounts = []int64{4990, 12900, 1900, 24900, 8950}
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Sales{c: c, o: o, tokens: make(chan struct{}), cancel: cancel}
	s.wg.Go(func() { s.pace(ctx) })
	for _, b := range c.boxes {
		s.wg.Go(func() { s.sell(ctx, b) })
	}
	return s
}

// pace hands out one token every 1/Rate.
func (s *Sales) pace(ctx context.Context) {
	t := time.NewTicker(time.Duration(float64(time.Second) / s.o.Rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case s.tokens <- struct{}{}:
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stop stops the stream (a sale in flight is left as it is) and waits
// for the boxes' sellers.
func (s *Sales) Stop() {
	s.cancel()
	s.wg.Wait()
}

// Wait waits until every box has made Max sales (or the stream stopped).
func (s *Sales) Wait() { s.wg.Wait() }

// Counts are the sales started and those that reached their outcome.
func (s *Sales) Counts() (started, done int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started, len(s.results)
}

// Results are the sales that reached their outcome, in that order.
func (s *Sales) Results() []SaleResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SaleResult(nil), s.results...)
}

// sell is one box's seller: a sale at a time while there are tokens.
func (s *Sales) sell(ctx context.Context, b *Box) {
	defer func() {
		if s.o.Max > 0 {
			s.finishedBox()
		}
	}()
	f := &follower{b: b}
	if err := f.init(ctx); err != nil {
		return
	}
	for n := 1; s.o.Max == 0 || n <= s.o.Max; n++ {
		select {
		case <-ctx.Done():
			return
		case <-s.tokens:
		}
		number := b.number.Add(1)
		amount := s.o.Amounts[int(number+uint64(b.index))%len(s.o.Amounts)]
		if s.o.DeclineEvery > 0 && n%s.o.DeclineEvery == 0 {
			amount = DeclinedAmount
		}
		ref := fmt.Sprintf("%s-%06d", b.Prefix, number)
		if s.o.BeforeCreate != nil {
			s.o.BeforeCreate(b, ref)
		}
		s.mu.Lock()
		s.started++
		s.mu.Unlock()
		res, err := f.sale(ctx, ref, amount)
		if err != nil {
			if ctx.Err() == nil {
				s.c.log.Error("a sale went wrong", "till", b.Till.String(), "reference", ref, "err", err)
			}
			return
		}
		s.mu.Lock()
		s.results = append(s.results, res)
		s.mu.Unlock()
		if s.o.OnOutcome != nil {
			s.o.OnOutcome(res)
		}
	}
}

// finishedBox counts a box that made its Max sales; the last one stops
// the pace.
func (s *Sales) finishedBox() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doneBoxes++
	if s.doneBoxes == len(s.c.boxes) {
		s.cancel()
	}
}

// follower reads one box's event log as a POS does.
type follower struct {
	b     *Box
	after uint64
}

// retryWait is how long a seller waits before trying a box again.
const retryWait = 200 * time.Millisecond

// init starts after the box's newest event.
func (f *follower) init(ctx context.Context) error {
	for {
		if _, err := f.b.waitUp(ctx); err != nil {
			return err
		}
		if cl := f.b.Client(); cl != nil {
			st, err := cl.Status(ctx)
			if err == nil {
				f.after = st.LastSeq
				return nil
			}
		}
		if err := sleep(ctx, retryWait); err != nil {
			return err
		}
	}
}

// rescanAfter is how long a sale may wait for its customer after a scan
// before the customer scans again (the scan was lost with a box that went
// down).
const rescanAfter = 3 * time.Second

// sale rings up one sale and follows it to its outcome.
func (f *follower) sale(ctx context.Context, ref string, amount int64) (SaleResult, error) {
	b := f.b
	res := SaleResult{Till: b.Till, Reference: ref, Amount: amount, Created: time.Now()}
	req := agent.SaleRequest{Reference: ref, Amount: amount, Currency: "NOK", Description: "Kaffe og bolle"}
	if b.scanner == nil {
		req.Customer = &agent.Customer{PersonalQR: PersonalQR}
	}
	var state agent.State
	for {
		if _, err := b.waitUp(ctx); err != nil {
			return res, err
		}
		cl := b.Client()
		if cl == nil {
			continue
		}
		sale, _, err := cl.CreateSale(ctx, req)
		if err == nil {
			state = sale.State
			break
		}
		if errors.Is(err, agent.ErrConflict) {
			return res, err
		}
		if err := sleep(ctx, retryWait); err != nil {
			return res, err
		}
	}
	var scanned time.Time
	if b.scanner != nil && state == agent.WaitingForCustomer {
		if err := b.Scan(PersonalQR); err != nil {
			return res, err
		}
		scanned = time.Now()
	}
	for {
		done, err := f.next(ctx, &res)
		if done || err != nil {
			return res, err
		}
		if b.scanner != nil && !scanned.IsZero() && time.Since(scanned) > rescanAfter {
			if f.waiting(ctx, ref) {
				_ = b.Scan(PersonalQR)
			}
			scanned = time.Now()
		}
	}
}

// next reads the events after f.after (waiting up to 2 s for one) and
// records those of res; done when res reached its outcome.
func (f *follower) next(ctx context.Context, res *SaleResult) (done bool, err error) {
	if _, err := f.b.waitUp(ctx); err != nil {
		return false, err
	}
	cl := f.b.Client()
	if cl == nil {
		return false, nil
	}
	page, err := cl.Events(ctx, f.after, 2*time.Second, 100)
	if err != nil {
		if errors.Is(err, agent.ErrEventsAhead) || errors.Is(err, agent.ErrEventsPruned) {
			return false, fmt.Errorf("%s's event log: %w", f.b.Till, err)
		}
		return false, sleep(ctx, retryWait)
	}
	now := time.Now()
	for _, e := range page.Events {
		f.after = e.Seq
		if e.Reference != res.Reference {
			continue
		}
		res.Seen = append(res.Seen, Seen{Seq: e.Seq, State: e.State, Arrived: now})
		res.State = e.State
		if e.State.Outcome() {
			res.Outcome = now
			return true, nil
		}
	}
	return false, nil
}

// waiting reports whether the sale still waits for its customer's scan.
func (f *follower) waiting(ctx context.Context, ref string) bool {
	cl := f.b.Client()
	if cl == nil {
		return false
	}
	sale, err := cl.GetSale(ctx, ref)
	return err == nil && sale.State == agent.WaitingForCustomer
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
