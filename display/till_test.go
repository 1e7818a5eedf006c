package display

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/clock"
)

const masked = "+47 ••• •• 678"

// newTill is a till on a fake clock: holds and expiry move only when the
// test advances it.
func newTill(t *testing.T, o Options) (*Till, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	o.Clock = fc
	h := NewHub(o)
	t.Cleanup(h.Close)
	till, err := h.AddTill("t1", "nb")
	if err != nil {
		t.Fatal(err)
	}
	return till, fc
}

// sale is the agent's view of a sale created at created.
func sale(ref string, st agent.State, amount int64, created time.Time) agent.Sale {
	return agent.Sale{Reference: ref, State: st, Amount: amount, Currency: "NOK", CreatedAt: created,
		Customer: &agent.CustomerRef{Type: "personalQr"}}
}

func expect(t *testing.T, got View, want View) {
	t.Helper()
	if got != want {
		t.Errorf("view\n got %+v\nwant %+v", got, want)
	}
}

func TestTillScreens(t *testing.T) {
	till, clock := newTill(t, Options{OutcomeHold: 8 * time.Second, FlashFor: 5 * time.Second, ScanWindow: time.Minute})
	t0 := clock.Now()
	expect(t, till.View(), View{Screen: Idle, Lang: "nb", Online: true})

	// A product barcode: "not recognised", for FlashFor.
	till.NotRecognised("product-barcode")
	expect(t, till.View(), View{Screen: Unrecognised, Lang: "nb", Online: true, Reason: "product-barcode"})
	clock.Advance(5 * time.Second)
	expect(t, till.View(), View{Screen: Idle, Lang: "nb", Online: true})

	// The customer scans first: greeted, masked, until the scan window ends.
	till.Scanned(masked, "held", "")
	expect(t, till.View(), View{Screen: Recognised, Lang: "nb", Online: true, Customer: masked})
	clock.Advance(59 * time.Second)
	expect(t, till.View(), View{Screen: Recognised, Lang: "nb", Online: true, Customer: masked})

	// The sale takes the scan: its request goes out, then waits offline.
	now := clock.Now()
	till.SaleChanged(sale("r1", agent.Queued, 49800, now), now)
	want := View{Screen: Recognised, Lang: "nb", Online: true, Amount: 49800, Currency: "NOK", Customer: masked}
	expect(t, till.View(), want)
	till.SetOnline(false)
	want.Screen, want.Online = Offline, false
	expect(t, till.View(), want)
	till.SetOnline(true)
	want.Screen, want.Online = Recognised, true
	expect(t, till.View(), want)

	// Awaiting approval: the time left counts from the request.
	till.SaleChanged(sale("r1", agent.AwaitingApproval, 49800, now), now)
	want.Screen, want.ExpiresInMs = Confirm, 600_000
	expect(t, till.View(), want)
	clock.Advance(time.Minute)
	want.ExpiresInMs = 540_000
	expect(t, till.View(), want)
	// A junk scan while the customer pays is not shown.
	till.NotRecognised("unknown")
	expect(t, till.View(), want)

	// Approved: paid through capturing and completed, for OutcomeHold.
	for _, st := range []agent.State{agent.Authorized, agent.Capturing, agent.Completed} {
		till.SaleChanged(sale("r1", st, 49800, now), clock.Now())
		want.Screen, want.ExpiresInMs = Paid, 0
		expect(t, till.View(), want)
	}
	clock.Advance(7 * time.Second)
	expect(t, till.View(), want)
	clock.Advance(time.Second)
	expect(t, till.View(), View{Screen: Idle, Lang: "nb", Online: true})
	// The next customer's scan replaces an outcome at once.
	till.SaleChanged(sale("r1b", agent.Authorized, 49800, clock.Now()), clock.Now())
	if v := till.View(); v.Screen != Paid {
		t.Fatalf("view %+v, want paid", v)
	}
	clock.Advance(time.Millisecond)
	till.Scanned("", "held", "")
	expect(t, till.View(), View{Screen: Recognised, Lang: "nb", Online: true})
	clock.Advance(time.Minute)

	// A new sale waits for the scan: idle, with the amount. A late event of
	// an older sale changes nothing.
	now = clock.Now()
	s2 := sale("r2", agent.WaitingForCustomer, 4990, now)
	s2.Customer = nil
	till.SaleChanged(s2, now)
	want = View{Screen: Idle, Lang: "nb", Online: true, Amount: 4990, Currency: "NOK"}
	expect(t, till.View(), want)
	till.SaleChanged(sale("r1", agent.Refunded, 49800, t0), now)
	expect(t, till.View(), want)

	// The scan binds to it: the customer is greeted on the confirm screen.
	till.Scanned(masked, "bound", "r2")
	till.SaleChanged(sale("r2", agent.AwaitingApproval, 4990, now), now)
	want = View{Screen: Confirm, Lang: "nb", Online: true, Amount: 4990, Currency: "NOK", Customer: masked, ExpiresInMs: 600_000}
	expect(t, till.View(), want)

	// Each way a sale ends without payment.
	for i, tc := range []struct {
		state  agent.State
		screen Screen
		reason string
	}{
		{agent.Declined, Declined, ""},
		{agent.Failed, Declined, "failed"},
		{agent.Expired, Expired, ""},
		{agent.Cancelled, Cancelled, ""},
		{agent.Abandoned, Cancelled, ""},
	} {
		clock.Advance(time.Second)
		ref := "end" + string(rune('a'+i))
		now := clock.Now()
		till.SaleChanged(sale(ref, agent.Queued, 100, now), now)
		till.SaleChanged(sale(ref, tc.state, 100, now), now)
		expect(t, till.View(), View{Screen: tc.screen, Reason: tc.reason, Lang: "nb", Online: true, Amount: 100, Currency: "NOK"})
	}
	clock.Advance(8 * time.Second)
	expect(t, till.View(), View{Screen: Idle, Lang: "nb", Online: true})

	if err := till.SetLanguage("fi"); err != nil {
		t.Fatal(err)
	}
	if err := till.SetLanguage("sv"); err == nil {
		t.Error("SetLanguage(sv) was accepted")
	}
	expect(t, till.View(), View{Screen: Idle, Lang: "fi", Online: true})
}

// A display gets the whole view first, then each change once: no message
// when nothing a display shows changed.
func TestSubscribeSnapshotThenChanges(t *testing.T) {
	till, _ := newTill(t, Options{})
	snap, sub := till.Subscribe()
	defer sub.Close()
	if m := decode(t, snap); m.Type != "snapshot" || m.View.Screen != Idle || !m.View.Online {
		t.Fatalf("snapshot %s", snap)
	}
	till.SetOnline(true) // no change
	till.SetOnline(false)
	till.SetOnline(false) // no change
	if n := len(sub.C()); n != 1 {
		t.Fatalf("%d messages queued, want 1", n)
	}
	if m := decode(t, <-sub.C()); m.Type != "change" || m.View.Online {
		t.Fatalf("change %+v", m)
	}
	if till.Displays() != 1 {
		t.Fatalf("Displays() = %d", till.Displays())
	}
	sub.Close()
	sub.Close()
	if till.Displays() != 0 {
		t.Fatalf("Displays() = %d after Close", till.Displays())
	}
}

// A display that does not keep up is dropped; the others, and whoever
// feeds the till, never wait for it.
func TestSlowDisplayDropped(t *testing.T) {
	till, _ := newTill(t, Options{QueueLen: 4})
	_, slow := till.Subscribe()
	_, fast := till.Subscribe()
	defer fast.Close()
	for i := range 100 {
		online := i%2 == 1 // the till starts online: each call is a change
		till.SetOnline(online)
		if m := decode(t, <-fast.C()); m.View.Online != online {
			t.Fatalf("change %d: %+v", i, m)
		}
	}
	n := 0
	for range slow.C() {
		n++
	}
	if n != 4 || !slow.Dropped() {
		t.Fatalf("the slow display got %d messages (dropped: %v), want its queue of 4 and a drop", n, slow.Dropped())
	}
	if fast.Dropped() || till.Displays() != 1 {
		t.Fatalf("fast dropped %v, %d displays", fast.Dropped(), till.Displays())
	}
	slow.Close() // after a drop: no panic
}

func TestHubTills(t *testing.T) {
	h := NewHub(Options{})
	if _, err := h.AddTill("a", "xx"); err == nil {
		t.Error("a till in language xx was added")
	}
	if _, err := h.AddTill("", "nb"); err == nil {
		t.Error("a till without id was added")
	}
	a, err := h.AddTill("a", "nb")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.AddTill("b", "da")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.AddTill("a", "nb"); err == nil {
		t.Error("till a was added twice")
	}
	if h.Till("") != a || h.Till("b") != b || h.Till("c") != nil {
		t.Error("Till does not find the tills")
	}
	_, sub := b.Subscribe()
	h.Close()
	if _, ok := <-sub.C(); ok || sub.Dropped() {
		t.Error("Close left a display connected, or called it slow")
	}
	if _, err := h.AddTill("c", "nb"); err == nil {
		t.Error("a till was added after Close")
	}
	_, late := a.Subscribe()
	if _, ok := <-late.C(); ok {
		t.Error("a display subscribed after Close")
	}
	h.Close()
}

func decode(t *testing.T, b []byte) message {
	t.Helper()
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if m.View == nil {
		t.Fatalf("%s: no view", b)
	}
	return m
}

// TestTillRefundIsNotPaying: a refund, whole or partial, is no customer
// paying: a product barcode scanned then is still told "not recognised".
func TestTillRefundIsNotPaying(t *testing.T) {
	for _, st := range []agent.State{agent.Refunded, agent.PartiallyRefunded} {
		till, clock := newTill(t, Options{OutcomeHold: 8 * time.Second, FlashFor: 5 * time.Second, ScanWindow: time.Minute})
		till.SaleChanged(sale("r1", st, 49800, clock.Now()), clock.Now())
		till.NotRecognised("product-barcode")
		if v := till.View(); v.Screen != Unrecognised {
			t.Errorf("after a sale %s, a product barcode: screen %s, want %s", st, v.Screen, Unrecognised)
		}
	}
}
