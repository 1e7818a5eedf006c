package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/device/phone"
	"github.com/tillbox/tillbox/store"
)

// Errors of the POS operations, beside *ValidationError.
var (
	ErrNotFound   = errors.New("no such sale")
	ErrConflict   = errors.New("a different sale has this reference")
	ErrWrongState = errors.New("not possible in the sale's state")
	ErrQueueFull  = errors.New("the outbox is full: no new sales until Vipps MobilePay answers again")
	ErrBusy       = errors.New("another sale is waiting for the customer's scan")
)

var refundIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-]{1,40}$`)

// Sale is a sale as the POS sees it. It never holds the customer's full
// phone number or scanned code.
type Sale struct {
	Reference     string       `json:"reference"`
	Till          string       `json:"till"`
	Amount        int64        `json:"amount"`
	Currency      string       `json:"currency"`
	Description   string       `json:"description"`
	Customer      *CustomerRef `json:"customer,omitempty"`
	State         State        `json:"state"`
	Outcome       bool         `json:"outcome"`
	VippsState    string       `json:"vippsState,omitempty"`
	Aggregate     Aggregate    `json:"aggregate"`
	ErrorCode     string       `json:"errorCode,omitempty"`
	Message       string       `json:"message,omitempty"`
	ManualCapture bool         `json:"manualCapture,omitempty"`
	CreatedAt     time.Time    `json:"createdAt"`
	UpdatedAt     time.Time    `json:"updatedAt"`
	FinishedAt    time.Time    `json:"finishedAt,omitzero"`
}

// CustomerRef tells how the customer was identified, masked.
type CustomerRef struct {
	Type   string `json:"type"` // personalQr or phoneNumber
	Masked string `json:"masked,omitempty"`
}

// Aggregate is what has moved, in minor units, as ePayment reports it.
type Aggregate struct {
	Authorized int64 `json:"authorized"`
	Captured   int64 `json:"captured"`
	Refunded   int64 `json:"refunded"`
	Cancelled  int64 `json:"cancelled"`
}

func view(s *store.Sale) Sale {
	v := Sale{
		Reference: s.Reference, Till: s.Till, Amount: s.Amount, Currency: s.Currency, Description: s.Description,
		State: State(s.State), Outcome: State(s.State).Outcome(), VippsState: s.VippsState,
		Aggregate: Aggregate(s.Aggregate),
		ErrorCode: s.ErrorCode, Message: s.ErrorMessage, ManualCapture: s.ManualCapture,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, FinishedAt: s.FinishedAt,
	}
	switch {
	case s.Customer.PersonalQR != "":
		v.Customer = &CustomerRef{Type: "personalQr"}
	case s.Customer.PhoneNumber != "":
		v.Customer = &CustomerRef{Type: "phoneNumber", Masked: phone.Mask(s.Customer.PhoneNumber)}
	}
	return v
}

// CreateSale takes a sale from the POS. It is committed to the store before
// it returns: the answer the POS gets is durable. Repeating the same request
// with the same reference returns the sale again instead of a second one.
func (a *Agent) CreateSale(ctx context.Context, req SaleRequest) (Sale, error) {
	s, _, err := a.Accept(ctx, req)
	return s, err
}

// Accept is CreateSale that also tells whether the sale is new (false: the
// same request came before, and this is that sale).
func (a *Agent) Accept(ctx context.Context, req SaleRequest) (sale Sale, created bool, err error) {
	if a.Stopping() {
		return Sale{}, false, ErrStopping
	}
	if err := req.validate(&a.opts); err != nil {
		return Sale{}, false, err
	}
	st, err := a.db.Stats()
	if err != nil {
		return Sale{}, false, err
	}
	if a.queueFull(st) {
		return Sale{}, false, ErrQueueFull
	}
	now := a.clock.Now()
	var out store.Sale
	var taken *heldScan // the held scan this sale took, given back if it is not stored
	err = a.db.Journaled(func(tx *store.Tx) error {
		if req.Reference != "" {
			old, err := tx.Sale(req.Reference)
			switch {
			case err == nil:
				if !a.sameSale(old, &req) {
					return ErrConflict
				}
				out = *old
				return nil
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		} else {
			n, err := tx.NextCounter("reference")
			if err != nil {
				return err
			}
			req.Reference = fmt.Sprintf("%s-%06d", a.opts.ReferencePrefix, n)
		}
		s := &store.Sale{
			Reference: req.Reference, Till: a.opts.Till, Amount: req.Amount, Currency: req.Currency,
			Description: req.Description, State: string(WaitingForCustomer),
			ManualCapture: req.Capture == "manual" || (req.Capture == "" && a.opts.ManualCapture),
			CreatedAt:     now, UpdatedAt: now,
		}
		if rc := req.receipt(a.opts.Till); rc != nil {
			b, err := json.Marshal(rc)
			if err != nil {
				return err
			}
			s.Receipt = b
		}
		if req.Customer != nil {
			s.Customer = store.Customer(*req.Customer)
		} else if held, ok := a.takeScan(now); ok {
			taken = held
			s.Customer.PersonalQR = held.code
		} else if err := a.noOtherWaiting(tx); err != nil {
			return err
		}
		// New: a given reference was checked above, a generated one must be
		// free too (a restored backup rewinds the counter). recordChange
		// below writes the sale once.
		if _, err := tx.Sale(s.Reference); err == nil {
			return fmt.Errorf("sale %s: %w", s.Reference, store.ErrExists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if s.Customer != (store.Customer{}) {
			if err := a.requestPayment(tx, s, now); err != nil {
				return err
			}
		} else {
			a.schedulePoll(tx, s.Reference, now.Add(a.CustomerPresentWindow()))
		}
		out = *s
		created = true
		return a.recordChange(tx, s, change{})
	})
	if err != nil {
		if taken != nil {
			a.putBackScan(taken)
		}
		return Sale{}, false, err
	}
	if created {
		a.log.Info("sale accepted", "reference", out.Reference, "amount", out.Amount, "state", out.State)
	}
	return view(&out), created, nil
}

// sameSale reports whether r repeats the request that made s. The customer
// may be missing from the repeat (it may have come from a scan).
func (a *Agent) sameSale(s *store.Sale, r *SaleRequest) bool {
	var c store.Customer
	if r.Customer != nil {
		c = store.Customer(*r.Customer)
	}
	manual := r.Capture == "manual" || (r.Capture == "" && a.opts.ManualCapture)
	var receipt []byte
	if rc := r.receipt(a.opts.Till); rc != nil {
		receipt, _ = json.Marshal(rc)
	}
	return s.Amount == r.Amount && s.Currency == r.Currency && s.Description == r.Description &&
		(c == store.Customer{} || c == s.Customer) && s.ManualCapture == manual && bytes.Equal(s.Receipt, receipt)
}

// noOtherWaiting refuses a second sale waiting for a scan: a scan must have
// one sale to go to.
func (a *Agent) noOtherWaiting(tx *store.Tx) error {
	var waiting string
	err := tx.EachOpen(func(s store.OpenSale) bool {
		if State(s.State) == WaitingForCustomer {
			waiting = s.Reference
		}
		return waiting == ""
	})
	if err == nil && waiting != "" {
		err = fmt.Errorf("%w (%s)", ErrBusy, waiting)
	}
	return err
}

// requestPayment queues the createPayment of a sale whose customer is known.
// The command holds its Idempotency-Key and body from now on.
func (a *Agent) requestPayment(tx *store.Tx, s *store.Sale, now time.Time) error {
	req := &epayment.CreatePaymentRequest{
		Amount:              epayment.Amount{Currency: epayment.Currency(s.Currency), Value: s.Amount},
		Customer:            &epayment.Customer{PersonalQR: s.Customer.PersonalQR, PhoneNumber: s.Customer.PhoneNumber},
		CustomerInteraction: epayment.CustomerPresent,
		PaymentMethod:       epayment.PaymentMethod{Type: "WALLET"},
		Reference:           s.Reference,
		UserFlow:            epayment.FlowPushMessage,
		PaymentDescription:  s.Description,
	}
	if len(s.Receipt) > 0 {
		req.Receipt = new(epayment.Receipt)
		if err := json.Unmarshal(s.Receipt, req.Receipt); err != nil {
			return err
		}
	}
	s.State = string(Queued)
	return a.enqueue(tx, s.Reference, cmdCreate, req, now.Add(a.CustomerPresentWindow()), now)
}

// Command kinds of the outbox.
const (
	cmdCreate  = "create"
	cmdCapture = "capture"
	cmdCancel  = "cancel"
	cmdRefund  = "refund"
)

// enqueue writes a command with its key and body, due at once.
func (a *Agent) enqueue(tx *store.Tx, ref, kind string, body any, notAfter, now time.Time) error {
	return a.enqueueAt(tx, ref, kind, body, notAfter, now, time.Time{})
}

// enqueueAt writes a command with a fresh key, due at the given time (zero:
// at once).
func (a *Agent) enqueueAt(tx *store.Tx, ref, kind string, body any, notAfter, now, at time.Time) error {
	return a.enqueueRetry(tx, ref, kind, body, notAfter, now, at, 0)
}

// enqueueRetry is enqueueAt for a command that takes over from attempts
// refused ones (its back-off goes on from there).
func (a *Agent) enqueueRetry(tx *store.Tx, ref, kind string, body any, notAfter, now, at time.Time, attempts int) error {
	_, err := a.enqueueCommand(tx, ref, kind, body, notAfter, now, at, attempts)
	return err
}

// enqueueCommand is enqueueRetry returning the command's id.
func (a *Agent) enqueueCommand(tx *store.Tx, ref, kind string, body any, notAfter, now, at time.Time, attempts int) (uint64, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	n, err := tx.NextCounter("command")
	if err != nil {
		return 0, err
	}
	c := &store.Command{Reference: ref, Kind: kind, IdempotencyKey: idempotencyKey(kind, ref, n),
		Body: b, CreatedAt: now, NotAfter: notAfter, NextAttempt: at, Attempts: attempts}
	if err := tx.Enqueue(c); err != nil {
		return 0, err
	}
	tx.OnCommit(func() { wake(a.wakeOutbox) })
	return c.ID, nil
}

// idempotencyKey is recognisable (kind, reference) and unique (a durable
// counter), within the 50 characters the API allows.
func idempotencyKey(kind, ref string, n uint64) string {
	k := fmt.Sprintf("%s-%d-%s", kind, n, ref)
	if len(k) <= 50 {
		return k
	}
	sum := sha256.Sum256([]byte(ref))
	return fmt.Sprintf("%s-%d-%s", kind, n, hex.EncodeToString(sum[:])[:50-len(kind)-len(fmt.Sprint(n))-2])
}

// recordChange stores s and, when its state, amounts, error or finality
// changed from prev (the zero change for a new sale), appends an event for
// the POS and the journal (so a sale made final by the end of its last
// command, its state unchanged, still tells when it finished). A
// sale whose outcome is reached and that has no command left becomes final.
func (a *Agent) recordChange(tx *store.Tx, s *store.Sale, prev change) error {
	now := a.clock.Now()
	s.UpdatedAt = now
	pending, err := pendingChange(tx, s)
	if err != nil {
		return err
	}
	final := State(s.State).Outcome() && !pending && !(State(s.State) == Completed && s.Aggregate.Captured < s.Amount && s.Aggregate.Captured+s.Aggregate.Cancelled < s.Aggregate.Authorized)
	if final && !s.Final {
		s.FinishedAt = now
		st := State(s.State)
		tx.OnCommit(func() { a.counts.finish(st) })
	}
	s.Final = final
	if !final {
		s.FinishedAt = time.Time{}
	}
	if err := tx.PutSale(s); err != nil {
		return err
	}
	if changeOf(s) == prev {
		return nil
	}
	v := view(s)
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := tx.AppendEvent(&store.Event{Reference: s.Reference, Kind: "sale", State: s.State, Data: data, At: now}); err != nil {
		return err
	}
	outcome := v.Outcome
	tx.OnCommit(func() {
		a.events.notify()
		if outcome {
			a.clearScan()
		}
	})
	return nil
}

// pendingChange tells whether a queued command of s may still change it.
// Once Vipps MobilePay ended the payment (declined, expired, terminated) or
// nothing authorised is left to capture or release, a capture or cancel may
// not: a capture whose answer was lost and that is repeated finds it done,
// a cancel that lost the race with the customer or the capture is refused,
// and neither is news. The sale is then final at its outcome, so its one
// outcome event tells the POS and headquarters when it finished (a sale
// made final later without any other change needs an event of its own: a
// second outcome event for the POS).
func pendingChange(tx *store.Tx, s *store.Sale) (bool, error) {
	_, queued, err := tx.FirstCommandID(s.Reference)
	if err != nil || !queued || !State(s.State).Outcome() {
		return queued, err
	}
	switch epayment.State(s.VippsState) {
	case epayment.StateAborted, epayment.StateExpired, epayment.StateTerminated:
	case epayment.StateAuthorized:
		if s.Aggregate.Authorized == 0 || s.Aggregate.Captured+s.Aggregate.Cancelled < s.Aggregate.Authorized {
			return true, nil
		}
	default:
		return true, nil
	}
	cmds, err := tx.CommandsFor(s.Reference)
	if err != nil {
		return false, err
	}
	for _, c := range cmds {
		if c.Kind != cmdCancel && c.Kind != cmdCapture {
			return true, nil
		}
	}
	return false, nil
}

// change is what makes a change worth an event: a sale whose change
// differs from before gets one. The zero change is no sale's.
type change struct {
	state     string
	aggregate store.Aggregate
	errorCode string
	final     bool
}

// changeOf is a stored sale's change.
func changeOf(s *store.Sale) change {
	return change{state: s.State, aggregate: s.Aggregate, errorCode: s.ErrorCode, final: s.Final}
}

// modify loads a sale, lets fn change it inside one transaction, and
// records the change. The transaction is committed with those of other
// goroutines' concurrent modifications (store.DB.Batch): so fn may run
// more than once, must change nothing outside the transaction but through
// tx.OnCommit, and must set on every run each variable it reports through.
func (a *Agent) modify(ref string, fn func(tx *store.Tx, s *store.Sale) error) (Sale, error) {
	var out store.Sale
	err := a.db.Batch(func(tx *store.Tx) error {
		out = store.Sale{}
		s, err := tx.Sale(ref)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		prev := changeOf(s)
		if err := fn(tx, s); err != nil {
			return err
		}
		out = *s
		return a.recordChange(tx, s, prev)
	})
	return view(&out), err
}

// GetSale returns one sale.
func (a *Agent) GetSale(ref string) (Sale, error) {
	var out Sale
	err := a.db.View(func(tx *store.Tx) error {
		s, err := tx.Sale(ref)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		out = view(s)
		return nil
	})
	return out, err
}

// ListSales returns up to limit sales after the given reference, in
// reference order.
func (a *Agent) ListSales(after string, limit int) ([]Sale, error) {
	var out []Sale
	err := a.db.View(func(tx *store.Tx) error {
		ss, err := tx.Sales(after, limit)
		for i := range ss {
			out = append(out, view(&ss[i]))
		}
		return err
	})
	return out, err
}

// CancelSale cancels a sale: at once while nothing was sent to Vipps
// MobilePay, otherwise through a cancel command (which releases an
// authorisation too). A captured sale must be refunded instead. Repeating
// it is harmless: see Cancel.
func (a *Agent) CancelSale(ctx context.Context, ref string) (Sale, error) {
	s, _, err := a.Cancel(ctx, ref)
	return s, err
}

// Cancel is CancelSale that also tells whether it did anything (false: the
// sale had already ended without payment, cancelled before or declined,
// expired, failed or abandoned, and is returned as it stands).
func (a *Agent) Cancel(ctx context.Context, ref string) (sale Sale, acted bool, err error) {
	now := a.clock.Now()
	sale, err = a.modify(ref, func(tx *store.Tx, s *store.Sale) error {
		acted = true
		cmds, err := tx.CommandsFor(ref)
		if err != nil {
			return err
		}
		switch st := State(s.State); {
		case st == WaitingForCustomer:
			s.State = string(Cancelled)
			a.unschedulePoll(tx, ref)
			return nil
		case st == Queued:
			if len(cmds) == 1 && cmds[0].Kind == cmdCreate && !cmds[0].MaybeSent && !a.isInflight(ref) {
				s.State = string(Cancelled)
				return tx.DeleteCommand(cmds[0].ID)
			}
		case st == Requested, st == AwaitingApproval, st == Authorized, st == Capturing:
		case st.endedUnpaid():
			acted = false
			return nil
		case st.captured():
			return fmt.Errorf("%w: sale is %s: captured: refund instead", ErrWrongState, s.State)
		default:
			return fmt.Errorf("%w: sale is %s", ErrWrongState, s.State)
		}
		for _, c := range cmds {
			if c.Kind == cmdCancel {
				return nil // already asked
			}
			if c.Kind == cmdCapture && !c.MaybeSent && c.Attempts == 0 && !a.isInflight(ref) {
				if err := tx.DeleteCommand(c.ID); err != nil {
					return err
				}
			}
		}
		return a.enqueue(tx, ref, cmdCancel, &epayment.CancelRequest{}, time.Time{}, now)
	})
	return sale, acted, err
}

// CaptureSale captures amount (0: all that is left) of an authorised sale
// with manual capture.
func (a *Agent) CaptureSale(ctx context.Context, ref string, amount int64) (Sale, error) {
	now := a.clock.Now()
	return a.modify(ref, func(tx *store.Tx, s *store.Sale) error {
		if st := State(s.State); st != Authorized && st != Capturing && !(st == Completed && s.Aggregate.Captured < s.Aggregate.Authorized-s.Aggregate.Cancelled) {
			return fmt.Errorf("%w: sale is %s", ErrWrongState, s.State)
		}
		left := s.Aggregate.Authorized - s.Aggregate.Cancelled - s.Aggregate.Captured
		cmds, err := tx.CommandsFor(ref)
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if c.Kind == cmdCapture {
				var m epayment.ModificationRequest
				_ = json.Unmarshal(c.Body, &m)
				left -= m.ModificationAmount.Value
			}
		}
		if left <= 0 {
			return fmt.Errorf("%w: nothing left to capture", ErrWrongState)
		}
		amount := amount // modify may run this again: the caller's amount stays as asked
		if amount == 0 {
			amount = left
		}
		if amount <= 0 || amount > left {
			return &ValidationError{Field: "amount", Reason: fmt.Sprintf("at most %s can be captured (authorised %s, captured %s)", Minor(left), Minor(s.Aggregate.Authorized-s.Aggregate.Cancelled), Minor(s.Aggregate.Authorized-s.Aggregate.Cancelled-left))}
		}
		s.State = string(Capturing)
		return a.enqueue(tx, ref, cmdCapture, &epayment.ModificationRequest{ModificationAmount: epayment.Amount{Currency: epayment.Currency(s.Currency), Value: amount}}, time.Time{}, now)
	})
}

// RefundSale refunds amount of a captured sale; 0 refunds all that is
// left (captured and not refunded, nor being refunded). refundID, chosen by
// the POS, makes the request safe to repeat: the same id refunds once.
func (a *Agent) RefundSale(ctx context.Context, ref string, amount int64, refundID string) (Sale, error) {
	now := a.clock.Now()
	if refundID != "" && !refundIDPattern.MatchString(refundID) {
		return Sale{}, &ValidationError{Field: "refundId", Reason: "must be 1 to 40 letters, digits or dashes"}
	}
	if amount < 0 {
		return Sale{}, &ValidationError{Field: "amount", Reason: "must be at least 1; leave it out to refund all that is left"}
	}
	return a.modify(ref, func(tx *store.Tx, s *store.Sale) error {
		for _, r := range s.Refunds {
			if refundID != "" && r.ID == refundID {
				if amount != 0 && r.Amount != amount {
					return &ValidationError{Field: "refundId", Reason: fmt.Sprintf("was used for a refund of %s; use another refundId for another refund", Minor(r.Amount))}
				}
				return nil
			}
		}
		if !State(s.State).captured() {
			return fmt.Errorf("%w: sale is %s; only captured sales can be refunded", ErrWrongState, s.State)
		}
		var asked int64
		for _, r := range s.Refunds {
			asked += r.Amount
		}
		refunded := max(asked, s.Aggregate.Refunded)
		left := s.Aggregate.Captured - refunded
		if left <= 0 {
			return fmt.Errorf("%w: nothing is left to refund (captured %s, refunded %s)", ErrWrongState, Minor(s.Aggregate.Captured), Minor(refunded))
		}
		amount := amount // modify may run this again: the caller's amount stays as asked
		if amount == 0 {
			amount = left
		}
		if amount > left {
			return &ValidationError{Field: "amount", Reason: fmt.Sprintf("at most %s can be refunded (captured %s, refunded %s)", Minor(left), Minor(s.Aggregate.Captured), Minor(refunded))}
		}
		id := refundID // modify may run this again: the caller's id stays as given
		if id == "" {
			id = fmt.Sprintf("r%d", len(s.Refunds)+1)
		}
		cmd, err := a.enqueueCommand(tx, ref, cmdRefund, &epayment.ModificationRequest{ModificationAmount: epayment.Amount{Currency: epayment.Currency(s.Currency), Value: amount}}, time.Time{}, now, time.Time{}, 0)
		s.Refunds = append(s.Refunds, store.Refund{ID: id, Amount: amount, Command: cmd})
		return err
	})
}

// Minor writes an amount in minor units for people, the thousands apart:
// 499000 is "499 000".
func Minor(v int64) string {
	d := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(d, "-")
	d = strings.TrimPrefix(d, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}
