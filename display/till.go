package display

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent"
)

// Till is what one till's displays show and the facts it is made of: the
// sale on the counter, a scan, whether the box is online. Its methods are
// safe for concurrent use and never block: they update the facts and put
// the new view in each display's queue.
type Till struct {
	id  string
	hub *Hub

	mu     sync.Mutex
	lang   string
	online bool

	sale    *saleFacts // the sale on the counter, or nil
	held    *heldScan  // a recognised scan waiting for a sale
	flash   *flash     // a code that was not recognised
	bound   boundScan  // the last scan bound to a sale
	shown   View       // the view last sent
	sent    bool       // shown was sent at least once
	subs    map[*Subscription]struct{}
	stop    func() bool // the timer of the next change by time
	stopped bool
}

type saleFacts struct {
	ref           string
	state         agent.State
	amount        int64
	currency      string
	customer      string // masked, or "" when unknown or named no one
	created       time.Time
	awaitingSince time.Time // when the payment request reached the app
	outcome       Screen    // the outcome screen, once reached
	endedAt       time.Time // when it was reached
	failed        bool
}

type heldScan struct {
	customer string
	at       time.Time
	until    time.Time
}

type flash struct {
	reason string
	until  time.Time
}

type boundScan struct {
	ref      string
	customer string
}

// ID is the till's identity in the sales unit.
func (t *Till) ID() string { return t.id }

// SaleChanged takes a sale's new state, as the agent's event log tells it;
// at is when it changed. A sale older than the one on the counter changes
// nothing (a late capture of the previous sale, a refund).
func (t *Till) SaleChanged(s agent.Sale, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.sale
	if cur == nil || cur.ref != s.Reference {
		if cur != nil && s.CreatedAt.Before(cur.created) {
			return
		}
		cur = &saleFacts{ref: s.Reference, created: s.CreatedAt}
		t.flash = nil // a new sale is news: it replaces "not recognised"
		switch {
		case s.Customer != nil && s.Customer.Masked != "":
			cur.customer = s.Customer.Masked
		case t.bound.ref == s.Reference:
			cur.customer = t.bound.customer
		case s.Customer != nil && t.held != nil:
			// The sale took the scan that was waiting for it.
			cur.customer = t.held.customer
			t.held = nil
		}
		t.sale = cur
	}
	cur.state, cur.amount, cur.currency = s.State, s.Amount, s.Currency
	if s.State == agent.AwaitingApproval && cur.awaitingSince.IsZero() {
		cur.awaitingSince = at
	}
	if scr := outcomeScreen(s.State); scr != "" && cur.outcome == "" {
		cur.outcome, cur.endedAt, cur.failed = scr, at, s.State == agent.Failed
	}
	if s.State.Outcome() && t.held != nil && t.held.at.Before(at) {
		// The agent forgets a held scan when a sale ends.
		t.held = nil
	}
	t.publish()
}

// outcomeScreen is the screen of a state the customer sees as an outcome,
// or "".
func outcomeScreen(s agent.State) Screen {
	switch s {
	case agent.Authorized, agent.Capturing, agent.Completed:
		return Paid
	case agent.Declined, agent.Failed:
		return Declined
	case agent.Expired:
		return Expired
	case agent.Cancelled, agent.Abandoned:
		return Cancelled
	}
	return ""
}

// Scanned takes a scan the agent took: outcome is "held" (it waits for the
// next sale) or "bound" (to the sale ref). customer is the masked phone
// number, or "" for a code that names no one.
func (t *Till) Scanned(customer, outcome, ref string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.hub.opts.Clock.Now()
	t.flash = nil
	switch outcome {
	case "held":
		t.held = &heldScan{customer: customer, at: now, until: now.Add(t.hub.opts.ScanWindow)}
	case "bound":
		t.held = nil
		t.bound = boundScan{ref: ref, customer: customer}
		if t.sale != nil && t.sale.ref == ref {
			t.sale.customer = customer
		}
	}
	t.publish()
}

// NotRecognised takes a scan that is not a personal QR code; reason is the
// key of device/classify's Reason.
func (t *Till) NotRecognised(reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.paying() {
		return // the customer pays: the agent refused the scan, and the screen stays
	}
	t.flash = &flash{reason: reason, until: t.hub.opts.Clock.Now().Add(t.hub.opts.FlashFor)}
	t.publish()
}

// SetOnline takes whether the box reaches Vipps MobilePay.
func (t *Till) SetOnline(online bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.online = online
	t.publish()
}

// SetLanguage changes the language of the till's displays.
func (t *Till) SetLanguage(lang string) error {
	if !ValidLanguage(lang) {
		return errLanguage(lang)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lang = lang
	t.publish()
	return nil
}

// View is what the till's displays show now.
func (t *Till) View() View {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.view(t.hub.opts.Clock.Now())
}

// view makes the view of the facts at now. t.mu is held.
func (t *Till) view(now time.Time) View {
	v := View{Screen: Idle, Lang: t.lang, Online: t.online}
	s := t.sale
	if t.flash != nil && now.Before(t.flash.until) && !t.paying() {
		v.Screen, v.Reason = Unrecognised, t.flash.reason
		return v
	}
	if s != nil {
		withSale := func(scr Screen) View {
			v.Screen, v.Amount, v.Currency, v.Customer = scr, s.amount, s.currency, s.customer
			return v
		}
		switch {
		case s.outcome != "":
			// Shown for OutcomeHold, unless the next customer scans.
			next := t.held != nil && t.held.at.After(s.endedAt)
			if now.Before(s.endedAt.Add(t.hub.opts.OutcomeHold)) && !next {
				v = withSale(s.outcome)
				if s.failed {
					v.Reason = "failed"
				}
				return v
			}
		case s.state == agent.WaitingForCustomer:
			return withSale(Idle)
		case s.state == agent.Queued, s.state == agent.Requested:
			if !t.online {
				return withSale(Offline)
			}
			return withSale(Recognised)
		case s.state == agent.AwaitingApproval:
			v = withSale(Confirm)
			left := s.awaitingSince.Add(t.hub.opts.PaymentLifetime).Sub(now)
			v.ExpiresInMs = max(left.Milliseconds(), 1)
			return v
		}
	}
	if t.held != nil && now.Before(t.held.until) {
		v.Screen, v.Customer = Recognised, t.held.customer
		return v
	}
	return v
}

// paying reports whether the sale on the counter is being paid: its request
// is queued, sent, or waits for the customer. t.mu is held.
func (t *Till) paying() bool {
	s := t.sale
	return s != nil && s.outcome == "" && s.state != agent.WaitingForCustomer && s.state != agent.Refunded && s.state != agent.PartiallyRefunded
}

// nextChange is when the view changes by time alone (zero: never). t.mu is
// held.
func (t *Till) nextChange(now time.Time) time.Time {
	var next time.Time
	consider := func(at time.Time) {
		if at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	if t.flash != nil {
		consider(t.flash.until)
	}
	if t.held != nil {
		consider(t.held.until)
	}
	if s := t.sale; s != nil && s.outcome != "" {
		consider(s.endedAt.Add(t.hub.opts.OutcomeHold))
	}
	return next
}

// publish sends the view to every display when it changed, and sets the
// timer of the next change by time. t.mu is held.
func (t *Till) publish() {
	if t.stopped {
		return
	}
	now := t.hub.opts.Clock.Now()
	v := t.view(now)
	if t.stop != nil {
		t.stop()
		t.stop = nil
	}
	if next := t.nextChange(now); !next.IsZero() {
		t.stop = t.hub.opts.Clock.AfterFunc(next.Sub(now), t.refresh)
	}
	if t.sent && v.same(t.shown) {
		return
	}
	t.shown, t.sent = v, true
	msg := encode("change", v)
	for sub := range t.subs {
		select {
		case sub.c <- msg:
		default:
			// Too slow: drop it rather than wait; the page reconnects
			// and gets the whole view again.
			sub.dropped = true
			delete(t.subs, sub)
			close(sub.c)
		}
	}
}

func (t *Till) refresh() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.publish()
}

func encode(typ string, v View) []byte {
	b, err := json.Marshal(message{Type: typ, View: &v})
	if err != nil {
		panic(err) // a View always encodes
	}
	return b
}

// Subscription is one display's queue of messages: encoded JSON, ready to
// send.
type Subscription struct {
	till    *Till
	c       chan []byte
	dropped bool // guarded by till.mu
}

// Subscribe returns the view now, encoded as a snapshot, and the queue of
// the changes after it. Close the subscription when the display goes.
func (t *Till) Subscribe() ([]byte, *Subscription) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sub := &Subscription{till: t, c: make(chan []byte, t.hub.opts.QueueLen)}
	if t.stopped {
		close(sub.c)
	} else {
		t.subs[sub] = struct{}{}
	}
	return encode("snapshot", t.view(t.hub.opts.Clock.Now())), sub
}

// C is the queue. It is closed when the display was too slow (Dropped),
// when the hub closes, or after Close.
func (s *Subscription) C() <-chan []byte { return s.c }

// Dropped reports whether the hub dropped the display for being too slow.
func (s *Subscription) Dropped() bool {
	s.till.mu.Lock()
	defer s.till.mu.Unlock()
	return s.dropped
}

// Close ends the subscription; safe to call more than once.
func (s *Subscription) Close() {
	t := s.till
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.subs[s]; ok {
		delete(t.subs, s)
		close(s.c)
	}
}

// Displays is the number of displays connected to the till.
func (t *Till) Displays() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.subs)
}

// close drops every display and stops the timer.
func (t *Till) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	if t.stop != nil {
		t.stop()
		t.stop = nil
	}
	for sub := range t.subs {
		delete(t.subs, sub)
		close(sub.c)
	}
}
