package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/device/phone"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// Fixtures are written without fsync (store.Options.NoSync) and then opened
// durably by the benchmark: only the measured part pays for durability.

// fixtureCounts is what a fixture holds.
type fixtureCounts struct {
	Sales, Unfinished, Commands, Events int
	// States counts the unfinished sales by state, and Kinds the queued
	// commands by kind.
	States map[agent.State]int
	Kinds  map[string]int
}

// An unfinished sale of the start-up fixture: its state, the command queued
// for it ("" for none), and the states its events reported.
type unfinishedKind struct {
	state  agent.State
	cmd    string
	manual bool // the POS captures
	sent   bool // the create may have reached Vipps MobilePay (MaybeSent)
	events []agent.State
}

var (
	waiting = unfinishedKind{state: agent.WaitingForCustomer, events: states("waiting_for_customer")}
	// unfinishedKinds are the unfinished sales after the one waiting for a
	// scan (the agent allows one), in turn.
	unfinishedKinds = []unfinishedKind{
		{state: agent.Queued, cmd: "create", events: states("queued")},
		{state: agent.Requested, cmd: "create", sent: true, events: states("queued requested")},
		{state: agent.AwaitingApproval, events: states("queued awaiting_approval")},
		{state: agent.Authorized, manual: true, events: states("queued awaiting_approval authorized")},
		{state: agent.Capturing, cmd: "capture", events: states("queued awaiting_approval capturing")},
		{state: agent.Authorized, cmd: "cancel", manual: true, events: states("queued awaiting_approval authorized")},
		{state: agent.Completed, cmd: "refund", events: states("queued awaiting_approval capturing completed")},
	}
	// finalKinds are the finished sales by percentile: most completed.
	finalKinds = []struct {
		upTo   int // i%100 below this
		state  agent.State
		events []agent.State
	}{
		{85, agent.Completed, states("queued awaiting_approval capturing completed")},
		{90, agent.PartiallyRefunded, states("queued awaiting_approval capturing completed partially_refunded")},
		{94, agent.Declined, states("queued awaiting_approval declined")},
		{97, agent.Expired, states("queued awaiting_approval expired")},
		{98, agent.Cancelled, states("queued awaiting_approval cancelled")},
		{99, agent.Failed, states("queued failed")},
		{100, agent.Abandoned, states("queued abandoned")},
	}
)

func states(s string) []agent.State {
	var out []agent.State
	for _, f := range strings.Fields(s) {
		out = append(out, agent.State(f))
	}
	return out
}

// buildSalesFixture writes a shop's database of n sales to path, as the
// agent would have written them: the last `unfinished` are unfinished in
// the states of unfinishedKinds (the first of them waiting for a scan), with
// their commands; the others are final, most of them completed, over the
// last 60 days. Every sale has a receipt of three lines and the events its
// life produced (four for a completed sale), as the agent's event log keeps
// them. References and idempotency keys come from the store's counters, so
// an agent opening the file goes on from them.
func buildSalesFixture(tb testing.TB, path string, n, unfinished int) fixtureCounts {
	tb.Helper()
	db := storetest.Open(tb, path, store.Options{NoSync: true})
	now := time.Now()
	start := now.Add(-60 * 24 * time.Hour)
	step := (60*24*time.Hour - 2*time.Hour) / time.Duration(max(n-unfinished, 1))
	const batch = 2000
	for lo := 0; lo < n; lo += batch {
		err := db.Update(func(tx *store.Tx) error {
			for i := lo; i < min(lo+batch, n); i++ {
				var err error
				if j := i - (n - unfinished); j >= 0 {
					k := waiting
					if j > 0 {
						k = unfinishedKinds[(j-1)%len(unfinishedKinds)]
					}
					at := now.Add(-time.Hour + time.Duration(j)*(time.Hour/time.Duration(unfinished)))
					if j == 0 {
						at = now.Add(-10 * time.Second)
					}
					err = addUnfinished(tx, at, k)
				} else {
					err = addFinal(tx, i, start.Add(time.Duration(i)*step))
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	syncFile(tb, path)
	return countFixture(tb, path)
}

// syncFile writes the file's dirty pages to disk, so that the kernel's
// write-back of a fixture written without fsync does not compete with the
// fsyncs a benchmark measures.
func syncFile(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		tb.Fatal(err)
	}
}

// newSale is a sale as CreateSale stores it, with the next reference.
func newSale(tx *store.Tx, at time.Time) (*store.Sale, error) {
	n, err := tx.NextCounter("reference")
	if err != nil {
		return nil, err
	}
	s := &store.Sale{
		Reference: fmt.Sprintf("tb-%s-%06d", benchTill, n), Till: benchTill,
		Amount: 1000 + int64(n%5000)*10, Currency: "NOK", Description: "Purchase in store",
		State: string(agent.Queued), CreatedAt: at, UpdatedAt: at,
	}
	if n%2 == 0 {
		s.Customer.PhoneNumber = fmt.Sprintf("47%08d", 10_000_000+n%80_000_000)
	} else {
		s.Customer.PersonalQR = fmt.Sprintf("https://qr.vipps.no/28/2/01/031/47%08d?v=1", 10_000_000+n%80_000_000)
	}
	rc, err := json.Marshal(receipt(s.Amount))
	if err != nil {
		return nil, err
	}
	s.Receipt = rc
	return s, nil
}

// receipt is a receipt of three lines summing to amount, as the agent
// builds it from the POS's lines.
func receipt(amount int64) *epayment.Receipt {
	rate := int64(2500)
	rc := &epayment.Receipt{BottomLine: epayment.BottomLine{Currency: epayment.NOK, PosID: benchTill}}
	for i, a := range saleLines(amount) {
		excl := (a.Amount*10000 + 12500/2) / 12500
		rc.OrderLines = append(rc.OrderLines, epayment.OrderLine{Name: a.Name, ID: fmt.Sprint(i + 1),
			TotalAmount: a.Amount, TotalAmountExcludingTax: excl, TotalTaxAmount: a.Amount - excl, TaxRate: &rate,
			UnitInfo: &epayment.UnitInfo{UnitPrice: a.UnitPrice, Quantity: a.Quantity, QuantityUnit: "PCS"}})
	}
	return rc
}

// saleLines are the POS's receipt lines of a sale of amount.
func saleLines(amount int64) []agent.Line {
	a, b := amount/2, amount/4
	return []agent.Line{
		{Name: "Kaffe latte", Quantity: "1", UnitPrice: a, Amount: a, TaxRate: 2500},
		{Name: "Kanelbolle", Quantity: "1", UnitPrice: b, Amount: b, TaxRate: 2500},
		{Name: "Bringebærsaft 0,5 l", Quantity: "1", UnitPrice: amount - a - b, Amount: amount - a - b, TaxRate: 2500},
	}
}

// addFinal adds a finished sale and the events of its life.
func addFinal(tx *store.Tx, i int, at time.Time) error {
	s, err := newSale(tx, at)
	if err != nil {
		return err
	}
	k := finalKinds[len(finalKinds)-1]
	for _, fk := range finalKinds {
		if i%100 < fk.upTo {
			k = fk
			break
		}
	}
	s.PSPReference = fmt.Sprint(3_000_000_000 + int64(i))
	s.SentAt = at.Add(300 * time.Millisecond)
	switch k.state {
	case agent.Completed:
		s.VippsState, s.Aggregate = "AUTHORIZED", store.Aggregate{Authorized: s.Amount, Captured: s.Amount}
	case agent.PartiallyRefunded:
		s.VippsState = "AUTHORIZED"
		s.Aggregate = store.Aggregate{Authorized: s.Amount, Captured: s.Amount, Refunded: s.Amount / 2}
		s.Refunds = []store.Refund{{ID: "r1", Amount: s.Amount / 2}}
	case agent.Declined:
		s.VippsState = "ABORTED"
	case agent.Expired:
		s.VippsState = "EXPIRED"
	case agent.Cancelled:
		s.VippsState, s.Aggregate = "TERMINATED", store.Aggregate{Cancelled: s.Amount}
	case agent.Failed:
		s.ErrorCode, s.ErrorMessage, s.PSPReference, s.SentAt = "7010", "This customer cannot pay with Vipps MobilePay here.", "", time.Time{}
	case agent.Abandoned:
		s.ErrorMessage, s.PSPReference, s.SentAt = "The payment request could not be sent within 2m0s.", "", time.Time{}
	}
	s.Final, s.FinishedAt = true, at.Add(time.Duration(len(k.events))*2*time.Second)
	return putSale(tx, s, k.events)
}

// addUnfinished adds an unfinished sale, its command and its events.
func addUnfinished(tx *store.Tx, at time.Time, k unfinishedKind) error {
	s, err := newSale(tx, at)
	if err != nil {
		return err
	}
	s.ManualCapture = k.manual
	if k.state == agent.WaitingForCustomer {
		s.Customer = store.Customer{}
	}
	if k.state != agent.WaitingForCustomer && k.state != agent.Queued && k.state != agent.Requested {
		s.VippsState, s.PSPReference, s.SentAt = "CREATED", fmt.Sprint(4_000_000_000+at.UnixMilli()%1_000_000), at.Add(300*time.Millisecond)
	}
	switch k.state {
	case agent.Authorized, agent.Capturing:
		s.VippsState, s.Aggregate.Authorized = "AUTHORIZED", s.Amount
	case agent.Completed:
		s.VippsState, s.Aggregate = "AUTHORIZED", store.Aggregate{Authorized: s.Amount, Captured: s.Amount}
		s.Refunds = []store.Refund{{ID: "r1", Amount: s.Amount}}
	}
	if k.cmd != "" {
		if err := enqueue(tx, s, k); err != nil {
			return err
		}
	}
	return putSale(tx, s, k.events)
}

// enqueue queues the command of kind k.cmd for s, with the key and body the
// agent would have given it.
func enqueue(tx *store.Tx, s *store.Sale, k unfinishedKind) error {
	n, err := tx.NextCounter("command")
	if err != nil {
		return err
	}
	amount := epayment.Amount{Currency: epayment.NOK, Value: s.Amount}
	var body any
	c := &store.Command{Reference: s.Reference, Kind: k.cmd, IdempotencyKey: fmt.Sprintf("%s-%d-%s", k.cmd, n, s.Reference),
		CreatedAt: s.CreatedAt}
	switch k.cmd {
	case "create":
		var rc epayment.Receipt
		if err := json.Unmarshal(s.Receipt, &rc); err != nil {
			return err
		}
		body = &epayment.CreatePaymentRequest{Amount: amount,
			Customer:            &epayment.Customer{PersonalQR: s.Customer.PersonalQR, PhoneNumber: s.Customer.PhoneNumber},
			CustomerInteraction: epayment.CustomerPresent, PaymentMethod: epayment.PaymentMethod{Type: "WALLET"},
			Reference: s.Reference, UserFlow: epayment.FlowPushMessage, PaymentDescription: s.Description, Receipt: &rc}
		c.NotAfter = s.CreatedAt.Add(2 * time.Minute)
		if k.sent {
			c.MaybeSent, c.Attempts, c.LastError = true, 1, "Post \"…/epayment/v1/payments\": EOF"
		}
	case "capture", "refund":
		body = &epayment.ModificationRequest{ModificationAmount: amount}
	case "cancel":
		body = &epayment.CancelRequest{}
	}
	if c.Body, err = json.Marshal(body); err != nil {
		return err
	}
	return tx.Enqueue(c)
}

// putSale stores s and appends an event for each of its states, with the
// sale as the POS sees it, as the agent's recordChange does.
func putSale(tx *store.Tx, s *store.Sale, evs []agent.State) error {
	final, finishedAt := s.Final, s.FinishedAt
	for i, st := range evs {
		at := s.CreatedAt.Add(time.Duration(i) * 2 * time.Second)
		s.State, s.UpdatedAt = string(st), at
		s.Final, s.FinishedAt = final && i == len(evs)-1, time.Time{}
		if s.Final {
			s.FinishedAt = finishedAt
		}
		data, err := json.Marshal(posView(s))
		if err != nil {
			return err
		}
		if _, err := tx.AppendEvent(&store.Event{Reference: s.Reference, Kind: "sale", State: s.State, Data: data, At: at}); err != nil {
			return err
		}
	}
	if i := len(evs) - 1; i >= 0 {
		s.State = string(evs[i])
	}
	return tx.CreateSale(s)
}

// posView is the sale as the agent shows it to the POS (agent.view).
func posView(s *store.Sale) agent.Sale {
	v := agent.Sale{
		Reference: s.Reference, Till: s.Till, Amount: s.Amount, Currency: s.Currency, Description: s.Description,
		State: agent.State(s.State), Outcome: agent.State(s.State).Outcome(), VippsState: s.VippsState,
		Aggregate: agent.Aggregate(s.Aggregate), ErrorCode: s.ErrorCode, Message: s.ErrorMessage,
		ManualCapture: s.ManualCapture, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, FinishedAt: s.FinishedAt,
	}
	switch {
	case s.Customer.PersonalQR != "":
		v.Customer = &agent.CustomerRef{Type: "personalQr"}
	case s.Customer.PhoneNumber != "":
		v.Customer = &agent.CustomerRef{Type: "phoneNumber", Masked: phone.Mask(s.Customer.PhoneNumber)}
	}
	return v
}

// countFixture opens the fixture and counts what it holds.
func countFixture(tb testing.TB, path string) fixtureCounts {
	tb.Helper()
	db := storetest.Open(tb, path, store.Options{NoSync: true, CompactMinFree: -1})
	defer db.Close()
	st, err := db.Stats()
	if err != nil {
		tb.Fatal(err)
	}
	fc := fixtureCounts{Sales: st.Sales, Unfinished: st.Unfinished, Commands: st.Commands, Events: st.Events,
		States: map[agent.State]int{}, Kinds: map[string]int{}}
	err = db.View(func(tx *store.Tx) error {
		open, err := tx.UnfinishedSales()
		for _, s := range open {
			fc.States[agent.State(s.State)]++
		}
		if err != nil {
			return err
		}
		cmds, err := tx.Commands(0, 0)
		for _, c := range cmds {
			fc.Kinds[c.Kind]++
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return fc
}

// buildQueuedFixture makes n sales with a customer through the agent
// (agent.CreateSale, as the POS API does) while Vipps MobilePay is out of
// reach, so that each leaves its createPayment queued. The agent's loops
// do not run: nothing is attempted yet. The customer-present window is an
// hour, so that the creates are still sendable when the benchmark runs.
func buildQueuedFixture(tb testing.TB, path string, n int) {
	tb.Helper()
	x := openBox(tb, path, store.Options{NoSync: true}, deadURL(tb),
		agent.Options{MaxQueued: n + 1, CustomerPresentWindow: time.Hour})
	ctx := context.Background()
	for i := range n {
		if _, err := x.agent.CreateSale(ctx, queuedSale(i)); err != nil {
			tb.Fatalf("sale %d: %v", i, err)
		}
	}
	if err := x.stop(); err != nil {
		tb.Fatal(err)
	}
	syncFile(tb, path)
}

// queuedSale is the i-th sale the POS sends: a customer (phone number or
// scanned code) and three receipt lines.
func queuedSale(i int) agent.SaleRequest {
	amount := 1000 + int64(i%5000)*10
	r := agent.SaleRequest{Amount: amount, Currency: "NOK", Description: "Purchase in store",
		Customer: &agent.Customer{PhoneNumber: fmt.Sprintf("47%08d", 10_000_000+i)}, Lines: saleLines(amount)}
	if i%2 == 1 {
		r.Customer = &agent.Customer{PersonalQR: fmt.Sprintf("https://qr.vipps.no/28/2/01/031/47%08d?v=1", 10_000_000+i)}
	}
	return r
}
