package recon_test

import (
	"context"
	"encoding/json"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/recon"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
	"github.com/tillbox/tillbox/store"
)

// openDB is a migrated headquarters database on a real PostgreSQL.
func openDB(t *testing.T) *hqdb.DB {
	t.Helper()
	db, err := hqdb.Open(context.Background(), pgtest.Start(t).DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// box journals a till's sales into headquarters as the ingest does: each
// change of a sale is a "sale" event with the sale's snapshot.
type box struct {
	t    *testing.T
	db   *hqdb.DB
	till wire.Till
	seq  uint64
}

func newBox(t *testing.T, db *hqdb.DB, till wire.Till, msn string) *box {
	t.Helper()
	h := wire.Heartbeat{Till: till, MSN: msn, ReferencePrefix: till.Store + "-" + till.Till, Version: "v1.0.0"}
	if err := db.Heartbeats(context.Background(), []hqdb.Heard{{Heartbeat: h, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	return &box{t: t, db: db, till: till}
}

// sale journals sale ref's state at at: captured and refunded so far.
func (b *box) sale(ref string, amount, captured, refunded int64, created, at time.Time) {
	b.t.Helper()
	b.seq++
	state := agent.Completed
	if refunded > 0 {
		state = agent.Refunded
	}
	s := agent.Sale{Reference: ref, Till: b.till.Till, Amount: amount, Currency: "NOK", State: state, Outcome: true,
		Aggregate: agent.Aggregate{Authorized: amount, Captured: captured, Refunded: refunded}, CreatedAt: created, UpdatedAt: at}
	data, err := json.Marshal(s)
	if err != nil {
		b.t.Fatal(err)
	}
	body, err := json.Marshal(store.Event{Seq: b.seq, Reference: ref, Kind: "sale", State: string(state), Data: data, At: at})
	if err != nil {
		b.t.Fatal(err)
	}
	ev, err := hqdb.ParseEvent(b.till, body, b.seq)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.db.Ingest(context.Background(), []hqdb.Event{ev}); err != nil {
		b.t.Fatal(err)
	}
}

// fakeReport is a ledger held in memory for the unit tests (the end-to-end
// test uses the simulator's Report API).
type fakeReport struct {
	ledger recon.Ledger
	days   map[string][]recon.Row
	closed map[string]bool
}

func (f *fakeReport) Ledgers(context.Context) ([]recon.Ledger, error) {
	return []recon.Ledger{f.ledger}, nil
}

func (f *fakeReport) Day(_ context.Context, id, topic, day string) ([]recon.Row, bool, error) {
	if id != f.ledger.ID || topic != "funds" {
		return nil, true, nil
	}
	return f.days[day], f.closed[day], nil
}
