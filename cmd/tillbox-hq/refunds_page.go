package main

import (
	"context"
	"encoding/json"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetpage"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/refunds"
)

// refundSource is the fleet page's list of cross-store refunds, from the
// refunds table.
func (m *Main) refundSource() fleetpage.RefundSource {
	return func(ctx context.Context, limit int) ([]fleetpage.Refund, error) {
		rs, err := refunds.List(ctx, m.db.Pool(), m.Config.HQ.Chain, limit)
		if err != nil {
			return nil, err
		}
		out := make([]fleetpage.Refund, len(rs))
		for i, r := range rs {
			var sale struct {
				Currency string `json:"currency"`
				State    string `json:"state"`
			}
			if len(r.Sale) > 0 {
				_ = json.Unmarshal(r.Sale, &sale) // the sale's JSON as its till wrote it
			}
			f := fleetpage.Refund{Created: r.Created, Updated: r.Updated, AskerStore: r.Asker.Store, AskerTill: r.Asker.Till,
				OwnerStore: r.Owner.Store, OwnerTill: r.Owner.Till, Reference: r.Reference, RefundID: r.RefundID,
				Amount: r.Amount, Currency: sale.Currency, State: r.State, SaleState: sale.State}
			if r.Refusal != nil {
				f.Refused, f.RefusedBecause = r.Refusal.Code, r.Refusal.Message
			}
			out[i] = f
		}
		return out, nil
	}
}
