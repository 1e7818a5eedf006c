package agent

import (
	"errors"
	"time"

	"github.com/tillbox/tillbox/store"
)

// A scan binds to a sale in one of two orders:
//
//   - the sale came first and waits for the customer: the scan binds to it
//     at once and the payment is requested;
//   - the scan came first: it is held for ScanWindow and binds to the next
//     sale the POS sends without a customer.
//
// A held scan is cleared when any sale reaches its outcome, so the next
// customer is never charged with the previous one's code, and a scan while
// a payment is pending is refused: it never takes that payment over.

// heldScan is a scan waiting for the next sale. It lives in memory only: after
// a restart the customer scans again.
type heldScan struct {
	code  string
	until time.Time
}

// ScanResult tells what became of a scan, for the display.
type ScanResult struct {
	// Outcome is "bound" (a payment was requested with it), "held" (it waits
	// for the next sale) or "refused" (see Message).
	Outcome   string `json:"outcome"`
	Reference string `json:"reference,omitempty"`
	Message   string `json:"message,omitempty"`
}

// ErrPaymentPending refuses a scan while a customer is paying.
var ErrPaymentPending = errors.New("a payment is in progress: scan again when it is finished")

// scanCode is Scan without telling the watchers (watch.go).
func (a *Agent) scanCode(code string) (ScanResult, error) {
	err := checkPersonalQR(code)
	if err == nil && a.opts.CheckScan != nil {
		err = a.opts.CheckScan(code)
	}
	if err != nil {
		return ScanResult{Outcome: "refused", Message: err.Error()}, &ValidationError{Field: "code", Reason: err.Error()}
	}
	now := a.clock.Now()
	var res ScanResult
	err = a.db.Journaled(func(tx *store.Tx) error {
		var oldest store.OpenSale // the sale waiting longest for a scan
		pending := false
		err := tx.EachOpen(func(s store.OpenSale) bool {
			switch st := State(s.State); {
			case st.pending():
				pending = true
			case st == WaitingForCustomer && (oldest.Reference == "" || s.CreatedAt.Before(oldest.CreatedAt)):
				oldest = s
			}
			return !pending
		})
		if err != nil {
			return err
		}
		if pending {
			return ErrPaymentPending
		}
		var waiting *store.Sale
		if oldest.Reference != "" {
			if waiting, err = tx.Sale(oldest.Reference); err != nil {
				return err
			}
		}
		if waiting == nil {
			held := &heldScan{code: code, until: now.Add(a.opts.ScanWindow)}
			tx.OnCommit(func() {
				a.mu.Lock()
				a.scan = held
				a.mu.Unlock()
			})
			res = ScanResult{Outcome: "held", Message: "waiting for the sale"}
			return nil
		}
		prev := changeOf(waiting)
		waiting.Customer = store.Customer{PersonalQR: code}
		a.unschedulePoll(tx, waiting.Reference)
		if err := a.requestPayment(tx, waiting, now); err != nil {
			return err
		}
		res = ScanResult{Outcome: "bound", Reference: waiting.Reference}
		return a.recordChange(tx, waiting, prev)
	})
	if errors.Is(err, ErrPaymentPending) {
		return ScanResult{Outcome: "refused", Message: err.Error()}, err
	}
	if err != nil {
		return ScanResult{}, err
	}
	a.log.Info("scan", "outcome", res.Outcome, "reference", res.Reference)
	return res, nil
}

// takeScan hands the held scan, if still fresh, to a new sale.
func (a *Agent) takeScan(now time.Time) (*heldScan, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.scan
	a.scan = nil
	if s == nil || !now.Before(s.until) {
		return nil, false
	}
	return s, true
}

// putBackScan holds again a scan taken by a sale that was not stored,
// unless another scan came meanwhile.
func (a *Agent) putBackScan(s *heldScan) {
	a.mu.Lock()
	if a.scan == nil {
		a.scan = s
	}
	a.mu.Unlock()
}

func (a *Agent) clearScan() {
	a.mu.Lock()
	a.scan = nil
	a.mu.Unlock()
}
