package refunds

import (
	"testing"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// TestDecide: what headquarters refuses at once from what it knows of a
// reference, and what it leaves to the till that took the sale.
func TestDecide(t *testing.T) {
	asker := wire.Till{Chain: "kaffe", Store: "bergen-1", Till: "t1"}
	owner := wire.Till{Chain: "kaffe", Store: "oslo-1", Till: "t1"}
	final := known{sale: true, ownerKnown: true, owner: owner, state: "completed", captured: 10000, refunded: 3000, final: true}
	for _, c := range []struct {
		name   string
		k      known
		amount int64
		state  string
		code   string
		field  string
	}{
		{"nobody's reference", known{}, 100, wire.RefundRefused, "not_found", ""},
		{"a till's prefix, its whole log here, no such sale", known{claimed: true, caughtUp: true, ownerKnown: true, owner: owner}, 100, wire.RefundRefused, "not_found", ""},
		{"a till's prefix, its log behind", known{claimed: true, ownerKnown: true, owner: owner}, 100, wire.RefundQueued, "", ""},
		{"a sale not final yet", known{sale: true, ownerKnown: true, owner: owner, captured: 0}, 100, wire.RefundQueued, "", ""},
		{"declined", known{sale: true, ownerKnown: true, owner: owner, state: "declined", final: true}, 100, wire.RefundRefused, "wrong_state", ""},
		{"all refunded", known{sale: true, ownerKnown: true, owner: owner, state: "refunded", captured: 500, refunded: 500, final: true}, 0, wire.RefundRefused, "wrong_state", ""},
		{"more than is left", final, 7001, wire.RefundRefused, "invalid_request", "amount"},
		{"what is left", final, 7000, wire.RefundQueued, "", ""},
		{"all that is left", final, 0, wire.RefundQueued, "", ""},
	} {
		key := wire.RefundKey(asker, "oslo-1-t1-000001", "r1")
		row := decide(key, asker, wire.RefundRequest{Reference: "oslo-1-t1-000001", RefundID: "r1", Amount: c.amount}, c.k)
		code, field := "", ""
		if row.Refusal != nil {
			code, field = row.Refusal.Code, row.Refusal.Field
			if row.Refusal.Message == "" {
				t.Errorf("%s: a refusal without a message", c.name)
			}
		}
		if row.State != c.state || code != c.code || field != c.field || row.Key != key || row.Asker != asker {
			t.Errorf("%s: %s %q %q, want %s %q %q", c.name, row.State, code, field, c.state, c.code, c.field)
		}
		if row.State == wire.RefundQueued && row.Owner != owner {
			t.Errorf("%s: queued for %v", c.name, row.Owner)
		}
	}
}
