package hqdb

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
	"github.com/tillbox/tillbox/store"
)

func openDB(t *testing.T) *DB {
	t.Helper()
	pg := pgtest.Start(t)
	db, err := Open(context.Background(), pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

var oslo = wire.Till{Chain: "acme", Store: "oslo", Till: "t1"}

// saleEvent is event seq of till t: sale ref in state with captured.
func saleEvent(t *testing.T, till wire.Till, seq uint64, ref string, state agent.State, amount, captured int64, created time.Time) Event {
	t.Helper()
	s := agent.Sale{Reference: ref, Till: till.Till, Amount: amount, Currency: "NOK", State: state,
		Aggregate: agent.Aggregate{Authorized: captured, Captured: captured}, CreatedAt: created, UpdatedAt: created.Add(time.Duration(seq) * time.Second)}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(store.Event{Seq: seq, Reference: ref, Kind: "sale", State: string(state), Data: data, At: s.UpdatedAt})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := ParseEvent(till, body, seq+100)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestMigrateOnceUnderTwoHQs: two headquarters migrating at once apply
// each migration once; a later run applies nothing; Ready holds.
func TestMigrateOnceUnderTwoHQs(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	var dbs []*DB
	for range 2 {
		db, err := Open(ctx, pg.DSN())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Ready(ctx); err == nil {
			t.Fatal("ready before any migration")
		}
		dbs = append(dbs, db)
	}
	var wg sync.WaitGroup
	applied := make([][]string, 2)
	for i, db := range dbs {
		wg.Go(func() {
			var err error
			if applied[i], err = db.Migrate(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ms, _ := Migrations()
	if n := len(applied[0]) + len(applied[1]); n != len(ms) {
		t.Fatalf("applied %v and %v, want %d migrations in all", applied[0], applied[1], len(ms))
	}
	db, err := Open(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if again, err := db.Migrate(ctx); err != nil || len(again) != 0 {
		t.Fatalf("a second run applied %v (%v)", again, err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSaleFromItsNewestEvent: events redelivered out of order and twice
// leave each sale as its newest event says, and at_hq at the newest seq.
func TestSaleFromItsNewestEvent(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	created := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	e1 := saleEvent(t, oslo, 1, "oslo-t1-000001", agent.AwaitingApproval, 500, 0, created)
	e2 := saleEvent(t, oslo, 2, "oslo-t1-000001", agent.Authorized, 500, 0, created)
	e3 := saleEvent(t, oslo, 3, "oslo-t1-000001", agent.Completed, 500, 500, created)
	for _, batch := range [][]Event{{e3}, {e1, e2}, {e2, e1, e3}} {
		if _, err := db.Ingest(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	res, err := db.Ingest(ctx, []Event{e1, e2, e3})
	if err != nil || res.New != 0 || res.Duplicates != 3 {
		t.Fatalf("a repeated batch: %+v %v", res, err)
	}
	// Part stored, part new: the new one stored (the COPY of the batch
	// fails on the stored one and the batch goes in row by row).
	e4 := saleEvent(t, oslo, 4, "oslo-t1-000002", agent.AwaitingApproval, 700, 0, created)
	if res, err := db.Ingest(ctx, []Event{e3, e4}); err != nil || res.New != 1 || res.Duplicates != 1 {
		t.Fatalf("a batch of one stored and one new event: %+v %v", res, err)
	}
	var state string
	var captured, last int64
	if err := db.Pool().QueryRow(ctx, "SELECT state, captured, last_seq FROM sales WHERE reference = 'oslo-t1-000001'").Scan(&state, &captured, &last); err != nil {
		t.Fatal(err)
	}
	if state != "completed" || captured != 500 || last != 3 {
		t.Fatalf("sale: %s captured %d last_seq %d, want completed 500 3", state, captured, last)
	}
	ts, err := db.TillStates(ctx, "acme")
	if err != nil || len(ts) != 1 || ts[0].AtHQ != 4 {
		t.Fatalf("tills: %+v %v", ts, err)
	}
}

// TestHeartbeatsRoutesAndLag: the newest heartbeat wins over a redelivered
// older one; routes come from it; the lag is its last seq less at_hq.
func TestHeartbeatsRoutesAndLag(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	hb := func(lastSeq uint64, version string) wire.Heartbeat {
		return wire.Heartbeat{Till: oslo, Version: version, MSN: "123456", ReferencePrefix: "oslo-t1", LastSeq: lastSeq}
	}
	if err := db.Heartbeats(ctx, []Heard{{hb(9, "new"), now}, {hb(5, "old"), now.Add(-time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ingest(ctx, []Event{saleEvent(t, oslo, 4, "oslo-t1-000001", agent.Queued, 100, 0, now)}); err != nil {
		t.Fatal(err)
	}
	ts, err := db.TillStates(ctx, "acme")
	if err != nil || len(ts) != 1 {
		t.Fatalf("tills: %+v %v", ts, err)
	}
	if s := ts[0]; s.Heartbeat.Version != "new" || !s.HeardAt.Equal(now) || s.Lag() != 5 {
		t.Fatalf("till: version %q heard %v lag %d, want new, %v, 5", s.Heartbeat.Version, s.HeardAt, s.Lag(), now)
	}
	rs, err := db.Routes(ctx, "acme")
	if err != nil || len(rs) != 1 || rs[0] != (Route{Till: oslo, MSN: "123456", Prefix: "oslo-t1"}) {
		t.Fatalf("routes: %+v %v", rs, err)
	}
	var msn string
	if err := db.Pool().QueryRow(ctx, "SELECT msn FROM sales").Scan(&msn); err != nil || msn != "123456" {
		t.Fatalf("the sale's msn: %q %v", msn, err)
	}
}

// TestSalesOnIsTheChainsDay: a sale made at 23:30 UTC on 6 December is
// one of 7 December in Oslo; sums per store and currency.
func TestSalesOnIsTheChainsDay(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	loc, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	bergen := wire.Till{Chain: "acme", Store: "bergen", Till: "t1"}
	late := time.Date(2026, 12, 6, 23, 30, 0, 0, time.UTC)  // 00:30 on the 7th in Oslo
	early := time.Date(2026, 12, 6, 22, 30, 0, 0, time.UTC) // 23:30 on the 6th in Oslo
	evs := []Event{
		saleEvent(t, oslo, 1, "oslo-t1-000001", agent.Completed, 1000, 1000, late),
		saleEvent(t, oslo, 2, "oslo-t1-000002", agent.Declined, 700, 0, late.Add(time.Hour)),
		saleEvent(t, oslo, 3, "oslo-t1-000003", agent.Completed, 300, 300, early),
		saleEvent(t, bergen, 1, "bergen-t1-000001", agent.Completed, 250, 250, late.Add(20*time.Hour)),
	}
	if _, err := db.Ingest(ctx, evs); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 7, 15, 0, 0, 0, loc)
	got, err := db.SalesOn(ctx, "acme", day, loc)
	if err != nil {
		t.Fatal(err)
	}
	want := []StoreSales{
		{Store: "bergen", Currency: "NOK", Count: 1, Completed: 1, Amount: 250, Captured: 250},
		{Store: "oslo", Currency: "NOK", Count: 2, Completed: 1, Amount: 1000, Captured: 1000},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sales on %s:\n got %+v\nwant %+v", day.Format(time.DateOnly), got, want)
	}
}

// TestParseEventRefusesWhatIsNoEvent: the ingest terminates such a message
// instead of storing it.
func TestParseEventRefusesWhatIsNoEvent(t *testing.T) {
	for _, body := range []string{`not json`, `{"kind":"sale","at":"2026-12-07T10:00:00Z"}`, `{"seq":1,"kind":"sale","at":"2026-12-07T10:00:00Z","data":"x"}`} {
		if _, err := ParseEvent(oslo, []byte(body), 1); err == nil {
			t.Errorf("%s: taken", body)
		}
	}
}
