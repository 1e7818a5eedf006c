package agent

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tillbox/tillbox/store"
)

// Refunds across the chain (docs/chain.md, "Refund anywhere in the
// chain"). The box that took a sale refunds it as a local refund when
// another till asks (RefundSale with the request's id, then RefundOutcome
// until it is over). The box that asked keeps the POS informed with
// events of kind remoteRefund in its log (RecordRemoteRefund).

// KindRemoteRefund is the kind of the log's events about a refund this box
// asked for a sale of another till.
const KindRemoteRefund = "remoteRefund"

// RemoteRefund is a refund this box asked for a sale another till took, as
// the POS sees it in an event: the event's sale is that sale as its till
// last showed it.
type RemoteRefund struct {
	RefundID string `json:"refundId"`
	// Amount asked for, in minor units; absent: all that was left.
	Amount int64 `json:"amount,omitempty"`
	// State: queued (at headquarters, for the till that took the sale),
	// accepted (that till queued it to Vipps MobilePay), completed, or
	// refused (Error, Message).
	State string `json:"state"`
	// Store and Till took the sale.
	Store   string `json:"store,omitempty"`
	Till    string `json:"till,omitempty"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// remoteRefundData is the data of a remoteRefund event: the sale's
// fields, and the refund.
type remoteRefundData struct {
	Sale
	RemoteRefund RemoteRefund `json:"remoteRefund"`
}

// remoteRefundOf reads the refund out of a remoteRefund event's data.
func remoteRefundOf(data []byte) *RemoteRefund {
	var d struct {
		RemoteRefund *RemoteRefund `json:"remoteRefund"`
	}
	if json.Unmarshal(data, &d) != nil {
		return nil
	}
	return d.RemoteRefund
}

// errRecorded rolls back a status recorded before.
var errRecorded = errors.New("recorded before")

// RecordRemoteRefund records step (1, 2, …) of the refund named key that
// this box asked for: an event of kind remoteRefund for the POS, when the
// sale is known (sale nil: the reference is nobody's, and the POS heard
// so in the answer to its call). Each step is recorded once, however
// often it is delivered: the steps taken are counted in the store, in the
// same transaction as the event.
func (a *Agent) RecordRemoteRefund(key string, step int, sale *Sale, rr RemoteRefund) error {
	if step < 1 {
		return fmt.Errorf("remote refund %s: step %d", key, step)
	}
	now := a.clock.Now()
	err := a.db.Journaled(func(tx *store.Tx) error {
		n, err := tx.NextCounter("remote-refund " + key)
		if err != nil {
			return err
		}
		if n > uint64(step) {
			return errRecorded
		}
		for n < uint64(step) { // a step that never came: counted as passed
			if n, err = tx.NextCounter("remote-refund " + key); err != nil {
				return err
			}
		}
		if sale == nil {
			return nil
		}
		data, err := json.Marshal(remoteRefundData{Sale: *sale, RemoteRefund: rr})
		if err != nil {
			return err
		}
		if _, err := tx.AppendEvent(&store.Event{Reference: sale.Reference, Kind: KindRemoteRefund, State: string(sale.State), Data: data, At: now}); err != nil {
			return err
		}
		tx.OnCommit(a.events.notify)
		return nil
	})
	if errors.Is(err, errRecorded) {
		return nil
	}
	return err
}

// RefundOutcome says whether refund id of sale ref is over (no refund of
// the sale left to send to Vipps MobilePay), whether it was made (its
// command succeeded), and the sale.
func (a *Agent) RefundOutcome(ref, id string) (done, made bool, sale Sale, err error) {
	err = a.db.View(func(tx *store.Tx) error {
		s, err := tx.Sale(ref)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var through int64
		var this *store.Refund
		for i, r := range s.Refunds {
			through += r.Amount
			if r.ID == id {
				this = &s.Refunds[i]
				break
			}
		}
		if this == nil {
			return fmt.Errorf("%w: sale %s has no refund %s", ErrNotFound, ref, id)
		}
		cmds, err := tx.CommandsFor(ref)
		if err != nil {
			return err
		}
		done = true
		for _, c := range cmds {
			if c.Kind == cmdRefund {
				done = false
			}
		}
		// Its own outcome, noted when its command was over; a refund
		// stored before outcomes were noted falls back on the sum of
		// the refunds up to it (which a refused one before it fools).
		made = this.Outcome == store.RefundMade
		if this.Outcome == "" {
			made = s.Aggregate.Refunded >= through
		}
		sale = view(s)
		return nil
	})
	return done, made, sale, err
}
