package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Sale is one payment the POS asked for, under its reference (the Vipps
// MobilePay reference of the payment). The store keeps whatever the agent
// puts here; it interprets only Reference, Final and FinishedAt, which it
// indexes. Money is in minor units (øre, cents).
//
// New fields may be added freely: sales are stored as JSON, and a field a
// file does not have decodes as its zero value.
type Sale struct {
	Reference   string          `json:"reference"`
	Till        string          `json:"till,omitempty"`
	Amount      int64           `json:"amount"`
	Currency    string          `json:"currency"`
	Description string          `json:"description,omitempty"`
	Customer    Customer        `json:"customer"`
	Receipt     json.RawMessage `json:"receipt,omitempty"` // as the agent sends it to Vipps MobilePay

	// State is the agent's state of the sale; the store does not interpret it.
	State string `json:"state"`
	// Final marks a sale the agent will not touch again: it leaves the index
	// of unfinished sales and becomes prunable after Options.Retention.
	Final bool `json:"final"`

	VippsState   string    `json:"vippsState,omitempty"` // the last state ePayment reported
	PSPReference string    `json:"pspReference,omitempty"`
	Aggregate    Aggregate `json:"aggregate"`
	ErrorCode    string    `json:"errorCode,omitempty"`
	ErrorMessage string    `json:"errorMessage,omitempty"`

	// ManualCapture: the POS captures; otherwise the agent captures as soon
	// as the payment is authorised.
	ManualCapture bool `json:"manualCapture,omitempty"`
	// Refunds the POS asked for, by its refund id, so that a repeated
	// request does not refund twice.
	Refunds []Refund `json:"refunds,omitempty"`
	// SentAt is when the createPayment was first answered by ePayment (the
	// payment exists); polling counts from it.
	SentAt time.Time `json:"sentAt,omitzero"`

	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"` // required when Final
}

// Customer identifies the customer: the whole text of the personal QR code
// they showed, or the phone number typed by the cashier.
type Customer struct {
	PersonalQR  string `json:"personalQr,omitempty"`
	PhoneNumber string `json:"phoneNumber,omitempty"`
}

// Refund is one refund the POS asked for.
type Refund struct {
	ID     string `json:"id"`
	Amount int64  `json:"amount"`
	// Command is the outbox command that sends it (0: a refund stored
	// before commands were noted); Outcome is RefundMade or RefundRefused
	// once that command is over, "" before.
	Command uint64 `json:"command,omitempty"`
	Outcome string `json:"outcome,omitempty"`
}

// The outcomes of a Refund.
const (
	RefundMade    = "made"
	RefundRefused = "refused"
)

// Aggregate mirrors ePayment's aggregate amounts, in minor units.
type Aggregate struct {
	Authorized int64 `json:"authorized"`
	Captured   int64 `json:"captured"`
	Refunded   int64 `json:"refunded"`
	Cancelled  int64 `json:"cancelled"`
}

// saleIndexed is the part of a stored sale its indexes depend on.
type saleIndexed struct {
	Final      bool      `json:"final"`
	FinishedAt time.Time `json:"finishedAt"`
}

// CreateSale stores a new sale; it returns an error wrapping [ErrExists]
// when the reference is taken.
func (tx *Tx) CreateSale(s *Sale) error { return tx.putSale(s, true) }

// PutSale stores s, replacing any sale with its reference, and keeps the
// index of unfinished sales and the prune index in step with Final and
// FinishedAt.
func (tx *Tx) PutSale(s *Sale) error { return tx.putSale(s, false) }

func (tx *Tx) putSale(s *Sale, mustBeNew bool) error {
	if err := checkRef(s.Reference); err != nil {
		return fmt.Errorf("store: put sale: %w", err)
	}
	if s.Final && s.FinishedAt.IsZero() {
		return fmt.Errorf("store: put sale %q: final without FinishedAt: %w", s.Reference, ErrInvalid)
	}
	sales, err := tx.bucket(bucketSales)
	if err != nil {
		return err
	}
	open, err := tx.bucket(bucketOpen)
	if err != nil {
		return err
	}
	done, err := tx.bucket(bucketDone)
	if err != nil {
		return err
	}
	key := []byte(s.Reference)
	old := sales.Get(key)
	if old != nil && mustBeNew {
		return fmt.Errorf("store: create sale %q: %w", s.Reference, ErrExists)
	}
	// The index of unfinished sales tells whether the stored sale is final;
	// only a final one is decoded, for the FinishedAt it is indexed by.
	wasOpen := old != nil && open.Get(key) != nil
	var prev saleIndexed
	if old != nil && !wasOpen {
		if err := json.Unmarshal(old, &prev); err != nil {
			return tx.corrupt(fmt.Sprintf("sale %q", s.Reference), err)
		}
		if !prev.Final {
			return &CorruptError{Path: tx.path, Reason: fmt.Sprintf("sale %q is unfinished but not indexed", s.Reference)}
		}
	}
	val, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("store: put sale %q: %w", s.Reference, err)
	}
	if err := sales.Put(key, val); err != nil {
		return fmt.Errorf("store: put sale %q: %w", s.Reference, err)
	}
	if old == nil {
		if err := tx.addCount(keyNSales, 1); err != nil {
			return err
		}
	}

	switch {
	case wasOpen && s.Final:
		err = open.Delete(key)
		if err == nil {
			err = tx.addCount(keyNOpen, -1)
		}
	case !wasOpen && !s.Final:
		err = open.Put(key, openValue(s))
		if err == nil {
			err = tx.addCount(keyNOpen, 1)
		}
	case !s.Final:
		if v := openValue(s); !bytes.Equal(open.Get(key), v) {
			err = open.Put(key, v)
		}
	}
	if err != nil {
		return fmt.Errorf("store: index sale %q: %w", s.Reference, err)
	}

	if old != nil && prev.Final && (!s.Final || !prev.FinishedAt.Equal(s.FinishedAt)) {
		err = done.Delete(timeRefKey(prev.FinishedAt, s.Reference))
	}
	if err == nil && s.Final {
		err = done.Put(timeRefKey(s.FinishedAt, s.Reference), []byte{})
	}
	if err != nil {
		return fmt.Errorf("store: index sale %q: %w", s.Reference, err)
	}
	return nil
}

// Sale returns the sale with reference ref, or an error wrapping
// [ErrNotFound].
func (tx *Tx) Sale(ref string) (*Sale, error) {
	sales, err := tx.bucket(bucketSales)
	if err != nil {
		return nil, err
	}
	v := sales.Get([]byte(ref))
	if v == nil {
		return nil, fmt.Errorf("store: sale %q: %w", ref, ErrNotFound)
	}
	var s Sale
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, tx.corrupt(fmt.Sprintf("sale %q", ref), err)
	}
	return &s, nil
}

// Sales returns up to limit sales (all when limit <= 0) in reference order,
// starting after the reference after ("" for the first).
func (tx *Tx) Sales(after string, limit int) ([]Sale, error) {
	sales, err := tx.bucket(bucketSales)
	if err != nil {
		return nil, err
	}
	var out []Sale
	c := sales.Cursor()
	k, v := c.Seek([]byte(after))
	if k != nil && string(k) == after {
		k, v = c.Next()
	}
	for ; k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
		var s Sale
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, tx.corrupt(fmt.Sprintf("sale %q", k), err)
		}
		out = append(out, s)
	}
	return out, nil
}

// UnfinishedSales returns every sale that is not Final, in reference order.
// It reads the index of unfinished sales, not the finished ones.
func (tx *Tx) UnfinishedSales() ([]Sale, error) {
	var out []Sale
	err := tx.EachUnfinished(func(s *Sale) bool {
		out = append(out, *s)
		return true
	})
	return out, err
}

// EachUnfinished calls fn with each sale that is not final, one at a time,
// until fn returns false: memory stays flat however many there are. fn must
// not keep s after it returns.
func (tx *Tx) EachUnfinished(fn func(s *Sale) bool) error {
	open, err := tx.bucket(bucketOpen)
	if err != nil {
		return err
	}
	sales, err := tx.bucket(bucketSales)
	if err != nil {
		return err
	}
	c := open.Cursor()
	n := 0
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if n++; n%walkRelease == 0 {
			tx.release()
		}
		v := sales.Get(k)
		if v == nil {
			return &CorruptError{Path: tx.path, Reason: fmt.Sprintf("unfinished sale %q is indexed but missing", k)}
		}
		var s Sale
		if err := json.Unmarshal(v, &s); err != nil {
			return tx.corrupt(fmt.Sprintf("sale %q", k), err)
		}
		if !fn(&s) {
			return nil
		}
	}
	return nil
}

// OpenSale is what the index of unfinished sales holds of one.
type OpenSale struct {
	Reference string
	State     string
	CreatedAt time.Time
}

// EachOpen calls fn with each sale that is not final, in reference order,
// until fn returns false. It reads the index alone, never a sale: cheap
// enough for a walk over 100 000 unfinished sales.
func (tx *Tx) EachOpen(fn func(OpenSale) bool) error {
	open, err := tx.bucket(bucketOpen)
	if err != nil {
		return err
	}
	c := open.Cursor()
	n := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if n++; n%walkRelease == 0 {
			tx.release()
		}
		o, ok := decodeOpenValue(k, v)
		if !ok {
			return &CorruptError{Path: tx.path, Reason: fmt.Sprintf("%s entry %q: %x", bucketOpen, k, v)}
		}
		if !fn(o) {
			return nil
		}
	}
	return nil
}

// deleteSale removes a final sale and its entry doneKey in the prune index
// (Prune's job).
func (tx *Tx) deleteSale(ref string, doneKey []byte) error {
	sales, err := tx.bucket(bucketSales)
	if err != nil {
		return err
	}
	done, err := tx.bucket(bucketDone)
	if err != nil {
		return err
	}
	if err := sales.Delete([]byte(ref)); err != nil {
		return err
	}
	if err := done.Delete(doneKey); err != nil {
		return err
	}
	return tx.addCount(keyNSales, -1)
}
