package agent

import (
	"slices"

	"github.com/tillbox/tillbox/store"
)

// Busy tells an update tool whether a payment is in flight: a customer is
// being asked to pay, a payment request or a capture is on its way, or its
// outcome is not known yet. Restarting then could leave a customer waiting
// at the counter, so `tillbox busy` and GET /api/v1/busy say "not now".
//
// An authorized sale waiting for the POS's capture is not in flight: the
// capture is the POS's to send, and a queued command (a receipt, a refund)
// survives a restart in the store.
type Busy struct {
	Busy bool `json:"busy"`
	// InFlight are the references of the sales in flight, in reference
	// order.
	InFlight []string `json:"inFlight"`
	// Queued is the number of commands in the outbox (durable: they do not
	// make the box busy).
	Queued int `json:"queued"`
}

// inFlight reports whether a sale in state s makes the box busy.
func (s State) inFlight() bool {
	switch s {
	case WaitingForCustomer, Queued, Requested, AwaitingApproval, Capturing:
		return true
	}
	return false
}

// Busy reports the sales in flight, from the store.
func (a *Agent) Busy() (Busy, error) {
	b := Busy{InFlight: []string{}}
	err := a.db.View(func(tx *store.Tx) error {
		return tx.EachUnfinished(func(s *store.Sale) bool {
			if State(s.State).inFlight() {
				b.InFlight = append(b.InFlight, s.Reference)
			}
			return true
		})
	})
	if err != nil {
		return Busy{}, err
	}
	st, err := a.db.Stats()
	if err != nil {
		return Busy{}, err
	}
	slices.Sort(b.InFlight)
	b.Queued = st.Commands
	b.Busy = len(b.InFlight) > 0
	return b, nil
}
