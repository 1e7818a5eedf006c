package refunds

import (
	"context"
	"testing"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
)

// TestLookupTrustsOnlyTheClaimingTill: a box that journals a "sale" with
// another till's reference does not become that sale's owner; the till
// whose prefix claims the reference does, and a refund asked for it goes
// there.
func TestLookupTrustsOnlyTheClaimingTill(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	db, err := hqdb.Open(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	pool := db.Pool()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range [][3]string{{"oslo", "t1", "OSLO1"}, {"bergen", "t1", "BRG1"}} {
		exec(`INSERT INTO tills (chain, store, till, reference_prefix) VALUES ('kaffe', $1, $2, $3)`, r[0], r[1], r[2])
	}
	sale := `INSERT INTO sales (chain, store, till, reference, amount, currency, captured, state, created_at, updated_at, finished_at, last_seq)
		VALUES ('kaffe', $1, 't1', $2, 1000, 'NOK', $3, $4, now(), now() + $5 * interval '1 second', now(), 1)`
	// Bergen's forged row is the newer one.
	exec(sale, "oslo", "OSLO1-000001", 1000, "completed", 0)
	exec(sale, "bergen", "OSLO1-000001", 1000, "completed", 60)
	k, err := lookup(ctx, pool, "kaffe", "OSLO1-000001")
	if err != nil {
		t.Fatal(err)
	}
	if want := (wire.Till{Chain: "kaffe", Store: "oslo", Till: "t1"}); !k.sale || k.owner != want {
		t.Errorf("OSLO1-000001 owned by %v (sale row %v), want %v", k.owner, k.sale, want)
	}
	// A forged row alone is no sale: the claiming till is asked.
	exec(sale, "bergen", "OSLO1-000002", 1000, "completed", 60)
	k, err = lookup(ctx, pool, "kaffe", "OSLO1-000002")
	if err != nil {
		t.Fatal(err)
	}
	if want := (wire.Till{Chain: "kaffe", Store: "oslo", Till: "t1"}); k.sale || !k.claimed || k.owner != want {
		t.Errorf("OSLO1-000002: sale row %v, claimed %v, owner %v; want only oslo's claim", k.sale, k.claimed, k.owner)
	}
}
