package agent_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

func TestSaleIsCapturedInFull(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	ref := ref()
	s := r.sale(agent.SaleRequest{Reference: ref, Amount: 49900, Description: "Kaffe og bolle",
		Customer: &agent.Customer{PersonalQR: vippsQR},
		Lines:    []agent.Line{{Name: "Kaffe", Amount: 39900, TaxRate: 1500}, {Name: "Bolle", Amount: 10000, TaxRate: 1500}}})
	if s.State != agent.Queued {
		t.Fatalf("new sale with a customer is %s, want queued", s.State)
	}
	done := r.waitState(ref, agent.Completed)
	if done.Aggregate.Captured != 49900 || done.Aggregate.Authorized != 49900 || !done.Outcome {
		t.Errorf("completed sale: %+v", done)
	}
	want := []agent.State{agent.Queued, agent.AwaitingApproval, agent.Capturing, agent.Completed}
	if got := r.states(ref); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	p, ok := r.simPayment(ref)
	if !ok || p.Ops.Create != 1 || p.Ops.Capture != 1 || p.Aggregate.CapturedAmount.Value != 49900 {
		t.Errorf("simulator: %+v", p)
	}
	if p.CustomerInteraction != "CUSTOMER_PRESENT" {
		t.Errorf("customerInteraction %q", p.CustomerInteraction)
	}
}

func TestGeneratedReferences(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	a := r.sale(agent.SaleRequest{Amount: 1000, Customer: &agent.Customer{PhoneNumber: "4712345678"}})
	b := r.sale(agent.SaleRequest{Amount: 1000, Customer: &agent.Customer{PhoneNumber: "4712345678"}})
	if a.Reference == b.Reference || a.Reference != "tb-t1-000001" || b.Reference != "tb-t1-000002" {
		t.Errorf("references %q, %q", a.Reference, b.Reference)
	}
	r.waitState(b.Reference, agent.Completed)
}

func TestScanFirstThenSale(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	res, err := r.agent.Scan(vippsQR)
	if err != nil || res.Outcome != "held" {
		t.Fatalf("scan before sale: %+v %v", res, err)
	}
	ref := ref()
	s := r.sale(agent.SaleRequest{Reference: ref, Amount: 2500})
	if s.State != agent.Queued || s.Customer == nil || s.Customer.Type != "personalQr" {
		t.Fatalf("sale after a scan: %+v", s)
	}
	r.waitState(ref, agent.Completed)
	// The scan was used up: the next sale waits for its own customer.
	next := r.sale(agent.SaleRequest{Reference: ref + "-2", Amount: 2500})
	if next.State != agent.WaitingForCustomer {
		t.Errorf("next sale is %s, want waiting_for_customer", next.State)
	}
}

func TestSaleFirstThenScan(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	ref := ref()
	if s := r.sale(agent.SaleRequest{Reference: ref, Amount: 2500}); s.State != agent.WaitingForCustomer {
		t.Fatalf("sale without customer is %s", s.State)
	}
	// A second sale cannot also wait: a scan needs one sale to go to.
	if _, err := r.agent.CreateSale(context.Background(), agent.SaleRequest{Amount: 100, Currency: "NOK"}); !errors.Is(err, agent.ErrBusy) {
		t.Errorf("second waiting sale: %v", err)
	}
	res, err := r.agent.Scan(vippsQR)
	if err != nil || res.Outcome != "bound" || res.Reference != ref {
		t.Fatalf("scan: %+v %v", res, err)
	}
	r.waitState(ref, agent.Completed)
	if p, _ := r.simPayment(ref); p.Customer == nil || p.Customer.PersonalQR != vippsQR {
		t.Errorf("simulator got no customer: %+v", p)
	}
}

func TestScanDoesNotHijackPendingPayment(t *testing.T) {
	r := newRig(t, sim.Options{App: sim.AppPolicy{Action: sim.Approve, Delay: 300 * time.Millisecond}}, fast())
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 2500, Customer: &agent.Customer{PersonalQR: vippsQR}})
	r.waitState(ref, agent.AwaitingApproval)
	res, err := r.agent.Scan(otherQR)
	if !errors.Is(err, agent.ErrPaymentPending) || res.Outcome != "refused" {
		t.Fatalf("scan during a pending payment: %+v %v", res, err)
	}
	r.waitState(ref, agent.Completed)
	// Nothing was held for the next customer either.
	if s := r.sale(agent.SaleRequest{Reference: ref + "-n", Amount: 100}); s.State != agent.WaitingForCustomer {
		t.Errorf("next sale %s, want waiting_for_customer", s.State)
	}
}

func TestHeldScanExpires(t *testing.T) {
	o := fast()
	o.ScanWindow = 50 * time.Millisecond
	r := newRig(t, sim.Options{}, o)
	if _, err := r.agent.Scan(vippsQR); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	if s := r.sale(agent.SaleRequest{Reference: ref(), Amount: 100}); s.State != agent.WaitingForCustomer {
		t.Errorf("a stale scan bound to a sale: %s", s.State)
	}
}

func TestHeldScanClearedWhenASaleEnds(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	first := ref()
	r.sale(agent.SaleRequest{Reference: first, Amount: 100, Customer: &agent.Customer{PhoneNumber: "4712345678"}})
	r.waitState(first, agent.Completed)
	// A scan arrives, then the cashier cancels a waiting sale: the scan must
	// not carry over to the sale after.
	if _, err := r.agent.Scan(vippsQR); err != nil {
		t.Fatal(err)
	}
	second := ref()
	r.sale(agent.SaleRequest{Reference: second, Amount: 100}) // takes the scan
	r.waitState(second, agent.Completed)
	if s := r.sale(agent.SaleRequest{Reference: ref(), Amount: 100}); s.State != agent.WaitingForCustomer {
		t.Errorf("third sale %s, want waiting", s.State)
	}
}

func TestDeclined(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	r.sim.SetApp("4712345678", sim.AppPolicy{Action: sim.Reject, Delay: 10 * time.Millisecond})
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	s := r.waitState(ref, agent.Declined)
	if !s.Outcome || s.Aggregate.Captured != 0 {
		t.Errorf("declined: %+v", s)
	}
}

func TestRefusedByVippsIsFailedWithCode(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	ref := ref()
	// The sim knows 4700000000 as a user who cannot pay.
	r.sale(agent.SaleRequest{Reference: ref, Amount: 100, Customer: &agent.Customer{PhoneNumber: "4700000000"}})
	s := r.waitState(ref, agent.Failed)
	if s.ErrorCode != "7010" || s.Message == "" {
		t.Errorf("failed sale: %+v", s)
	}
}

// TestOfflineCreateIsAbandoned: nothing answers; the create is never sent,
// and after the customer-present window it never will be.
func TestOfflineCreateIsAbandoned(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	o := fast()
	o.CustomerPresentWindow = 200 * time.Millisecond
	r := idleRig(t, sim.Options{}, o, store.Options{})
	r.start(dead)
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	s := r.waitState(ref, agent.Abandoned)
	if !s.Outcome || s.Message == "" {
		t.Errorf("abandoned sale: %+v", s)
	}
	st, err := r.agent.Status()
	// Offline once the create was tried; on a busy machine the window may
	// end before the outbox tries it at all (LastError then empty).
	if err != nil || st.Queued != 0 || (st.LastError != "" && st.Online) {
		t.Errorf("status after abandon: %+v %v", st, err)
	}
}

// TestLostCreateAnswersAreRepeatedNotDoubled: every answer to the create is
// lost for a while; the agent repeats it with the same key, and one payment
// exists in the end.
func TestLostCreateAnswersAreRepeatedNotDoubled(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	r.sim.SetFault(sim.Fault{Endpoint: "createPayment", Lost: 1})
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	r.waitState(ref, agent.Requested)
	r.sim.ClearFaults()
	s := r.waitState(ref, agent.Completed)
	p, _ := r.simPayment(ref)
	if p.Ops.Create != 1 || p.Ops.Capture != 1 || s.Aggregate.Captured != 100 {
		t.Errorf("after lost answers: sim %+v, sale %+v", p.Ops, s)
	}
}

// TestMaybeSentCreatePastWindowIsSettledNotAbandoned: the create reached
// Vipps but its answers were lost until after the window: the agent must
// find the payment, not abandon a customer who is paying.
func TestMaybeSentCreatePastWindowIsSettledNotAbandoned(t *testing.T) {
	o := fast()
	o.CustomerPresentWindow = 150 * time.Millisecond
	// Every call counts against ePayment's 5 a minute per reference, lost
	// ones too: retry at a pace that leaves room for the capture.
	o.RetryBase, o.RetryMax = 100*time.Millisecond, 200*time.Millisecond
	r := newRig(t, sim.Options{}, o)
	r.sim.SetFault(sim.Fault{Endpoint: "createPayment", Lost: 1})
	r.sim.SetFault(sim.Fault{Endpoint: "getPayment", Drop: 1})
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	time.Sleep(250 * time.Millisecond)
	r.sim.ClearFaults()
	s := r.waitState(ref, agent.Completed)
	if p, _ := r.simPayment(ref); p.Ops.Create != 1 || s.Aggregate.Captured != 100 {
		t.Errorf("sim %+v sale %+v", p.Ops, s)
	}
}

func TestRestartResumesUnfinishedSales(t *testing.T) {
	r := newRig(t, sim.Options{App: sim.AppPolicy{Action: sim.Approve, Delay: 200 * time.Millisecond}}, fast())
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 700, Customer: &agent.Customer{PersonalQR: vippsQR}})
	r.waitState(ref, agent.AwaitingApproval)
	r.stop()
	time.Sleep(300 * time.Millisecond) // the customer approves while the box is down
	r.start(r.SimURL)
	s := r.waitState(ref, agent.Completed)
	if p, _ := r.simPayment(ref); p.Ops.Create != 1 || p.Ops.Capture != 1 || s.Aggregate.Captured != 700 {
		t.Errorf("after restart: sim %+v sale %+v", p.Ops, s)
	}
}

func TestCancel(t *testing.T) {
	o := fast()
	o.ManualCapture = true
	r := newRig(t, sim.Options{}, o)
	ctx := context.Background()

	waiting := ref()
	r.sale(agent.SaleRequest{Reference: waiting, Amount: 100})
	if s, err := r.agent.CancelSale(ctx, waiting); err != nil || s.State != agent.Cancelled || !s.Outcome {
		t.Fatalf("cancel waiting sale: %+v %v", s, err)
	}

	authorized := ref()
	r.sale(agent.SaleRequest{Reference: authorized, Amount: 900, Customer: &agent.Customer{PersonalQR: vippsQR}})
	r.waitState(authorized, agent.Authorized)
	if _, err := r.agent.CancelSale(ctx, authorized); err != nil {
		t.Fatal(err)
	}
	s := r.waitState(authorized, agent.Cancelled)
	if s.Aggregate.Cancelled != 900 || s.Aggregate.Captured != 0 {
		t.Errorf("cancelled authorisation: %+v", s.Aggregate)
	}
	// Repeating it is harmless: the sale as it stands, nothing done.
	if s, acted, err := r.agent.Cancel(ctx, authorized); err != nil || acted || s.State != agent.Cancelled {
		t.Errorf("cancel twice: %+v %v %v", s, acted, err)
	}
	if _, err := r.agent.CancelSale(ctx, "no-such-sale"); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("cancel unknown: %v", err)
	}
}

func TestManualCaptureAndRefunds(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	ctx := context.Background()
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 1000, Capture: "manual", Customer: &agent.Customer{PersonalQR: vippsQR}})
	r.waitState(ref, agent.Authorized)
	if _, err := r.agent.CaptureSale(ctx, ref, 2000); err == nil {
		t.Error("capture above the authorised amount accepted")
	}
	if _, err := r.agent.CaptureSale(ctx, ref, 0); err != nil {
		t.Fatal(err)
	}
	r.waitState(ref, agent.Completed)
	if _, err := r.agent.RefundSale(ctx, ref, 300, "ret-1"); err != nil {
		t.Fatal(err)
	}
	// The POS repeats its request: one refund only.
	if _, err := r.agent.RefundSale(ctx, ref, 300, "ret-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.agent.RefundSale(ctx, ref, 800, "ret-2"); err == nil {
		t.Error("refund of more than is left accepted")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, _ := r.agent.GetSale(ref)
		if s.State == agent.PartiallyRefunded && s.Aggregate.Refunded == 300 && s.Outcome {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refund not settled: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p, _ := r.simPayment(ref); p.Ops.Refund != 1 || p.Aggregate.RefundedAmount.Value != 300 {
		t.Errorf("simulator refunds: %+v", p)
	}
}

func TestQueueCap(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	o := fast()
	o.MaxQueued = 1
	r := idleRig(t, sim.Options{}, o, store.Options{})
	r.start(dead)
	r.sale(agent.SaleRequest{Reference: ref(), Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	_, err := r.agent.CreateSale(context.Background(), agent.SaleRequest{Amount: 100, Currency: "NOK", Customer: &agent.Customer{PersonalQR: vippsQR}})
	if !errors.Is(err, agent.ErrQueueFull) {
		t.Errorf("second sale with a full queue: %v", err)
	}
	st, _ := r.agent.Status()
	if !st.QueueFull || st.MaxQueued != 1 || st.Queued != 1 {
		t.Errorf("status: %+v", st)
	}
}

func TestRepeatedRequestReturnsTheSameSale(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	ref := ref()
	req := agent.SaleRequest{Reference: ref, Amount: 500, Currency: "NOK", Customer: &agent.Customer{PersonalQR: vippsQR}}
	a := r.sale(req)
	b := r.sale(req)
	if a.Reference != b.Reference || !a.CreatedAt.Equal(b.CreatedAt) {
		t.Errorf("repeat gave another sale: %+v %+v", a, b)
	}
	req.Amount = 600
	if _, err := r.agent.CreateSale(context.Background(), req); !errors.Is(err, agent.ErrConflict) {
		t.Errorf("same reference, other amount: %v", err)
	}
	r.waitState(ref, agent.Completed)
	if p, _ := r.simPayment(ref); p.Ops.Create != 1 {
		t.Errorf("creates: %d", p.Ops.Create)
	}
}

func TestEventsLongPollAndGapless(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	ctx := context.Background()
	got := make(chan []agent.Event, 1)
	go func() {
		evs, _ := r.agent.Events(ctx, 0, 10, 5*time.Second)
		got <- evs
	}()
	time.Sleep(20 * time.Millisecond)
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	select {
	case evs := <-got:
		if len(evs) == 0 || evs[0].Seq != 1 || evs[0].Reference != ref {
			t.Fatalf("long poll woke with %+v", evs)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("long poll did not wake on a new sale")
	}
	r.waitState(ref, agent.Completed)
	evs, err := r.agent.Events(ctx, 0, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: gap", i, e.Seq)
		}
	}
	rest, _ := r.agent.Events(ctx, evs[1].Seq, 1000, 0)
	if len(rest) != len(evs)-2 || rest[0].Seq != evs[2].Seq {
		t.Errorf("resume after seq %d gave %d events", evs[1].Seq, len(rest))
	}
	if none, _ := r.agent.Events(ctx, evs[len(evs)-1].Seq, 10, 30*time.Millisecond); len(none) != 0 {
		t.Errorf("no new events, got %d", len(none))
	}
}

// TestCancelQueuedBehindAnUnsentCreate: the create's connection is dropped
// (it may have been sent), the cashier cancels, and the create turns out
// never to have reached Vipps: the sale is abandoned, and the cancel queued
// behind the create is dropped with it instead of failing the sale.
func TestCancelQueuedBehindAnUnsentCreate(t *testing.T) {
	o := fast()
	o.CustomerPresentWindow = 200 * time.Millisecond
	o.RetryBase, o.RetryMax = 100*time.Millisecond, 200*time.Millisecond
	r := newRig(t, sim.Options{}, o)
	r.sim.SetFault(sim.Fault{Endpoint: "createPayment", Drop: 1})
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	r.waitState(ref, agent.Requested)
	if _, err := r.agent.CancelSale(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	s := r.waitState(ref, agent.Abandoned)
	if _, ok := r.simPayment(ref); ok {
		t.Error("the simulator holds a payment that was never created")
	}
	st, _ := r.agent.Status()
	if st.Queued != 0 || !s.Outcome {
		t.Errorf("after abandon: %d commands queued, sale %+v", st.Queued, s)
	}
	time.Sleep(100 * time.Millisecond)
	if again, _ := r.agent.GetSale(ref); again.State != agent.Abandoned {
		t.Errorf("abandoned sale became %s", again.State)
	}
}

// TestCancelOfAnUnsentCreateNeedsNoCall: offline, nothing was sent: the
// cancel ends the sale without a call to Vipps (at once, or at the create's
// next attempt when one is under way).
func TestCancelOfAnUnsentCreateNeedsNoCall(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	r := idleRig(t, sim.Options{}, fast(), store.Options{})
	r.start(dead)
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	time.Sleep(50 * time.Millisecond) // a few failed attempts
	if _, err := r.agent.CancelSale(context.Background(), ref); err != nil {
		t.Fatalf("cancel offline: %v", err)
	}
	if s := r.waitState(ref, agent.Cancelled); !s.Outcome {
		t.Errorf("cancelled sale: %+v", s)
	}
	if st, _ := r.agent.Status(); st.Queued != 0 {
		t.Errorf("%d commands left", st.Queued)
	}
}

func TestAcceptTellsRepeatsApart(t *testing.T) {
	r := newRig(t, sim.Options{}, fast())
	ctx := context.Background()
	req := agent.SaleRequest{Reference: ref(), Amount: 5000, Currency: "NOK", Customer: &agent.Customer{PersonalQR: vippsQR},
		Lines: []agent.Line{{Name: "Bok", Amount: 5000}}}
	if _, created, err := r.agent.Accept(ctx, req); err != nil || !created {
		t.Fatalf("first: created=%v %v", created, err)
	}
	if _, created, err := r.agent.Accept(ctx, req); err != nil || created {
		t.Fatalf("repeat: created=%v %v", created, err)
	}
	other := req
	other.Lines = []agent.Line{{Name: "Penn", Amount: 5000}}
	if _, _, err := r.agent.Accept(ctx, other); !errors.Is(err, agent.ErrConflict) {
		t.Errorf("same reference, other lines: %v", err)
	}
	other = req
	other.Capture = "manual"
	if _, _, err := r.agent.Accept(ctx, other); !errors.Is(err, agent.ErrConflict) {
		t.Errorf("same reference, other capture mode: %v", err)
	}
	r.waitState(req.Reference, agent.Completed)
	if _, err := r.agent.CaptureSale(ctx, req.Reference, 0); !errors.Is(err, agent.ErrWrongState) {
		t.Errorf("capture of a completed sale: %v", err)
	}
}

// TestFinishedSalesArePruned: growth is bounded; a sale still at work is kept.
func TestFinishedSalesArePruned(t *testing.T) {
	o := fast()
	o.PruneEvery = 20 * time.Millisecond
	r := idleRig(t, sim.Options{App: sim.AppPolicy{Action: sim.Approve, Delay: 10 * time.Millisecond}}, o,
		store.Options{Retention: 50 * time.Millisecond, EventRetention: time.Hour})
	r.start(r.SimURL)

	done := ref()
	r.sale(agent.SaleRequest{Reference: done, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	r.waitState(done, agent.Completed)
	waiting := ref()
	r.sale(agent.SaleRequest{Reference: waiting, Amount: 100})
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := r.agent.GetSale(done)
		if errors.Is(err, agent.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the finished sale was never pruned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s, err := r.agent.GetSale(waiting); err != nil || s.State != agent.WaitingForCustomer {
		t.Errorf("the unfinished sale: %+v %v", s, err)
	}
	// The POS can still read the results of pruned sales' events.
	if evs, err := r.agent.Events(context.Background(), 0, 100, 0); err != nil || len(evs) == 0 || evs[0].Reference != done {
		t.Errorf("events after prune: %d %v", len(evs), err)
	}
}
