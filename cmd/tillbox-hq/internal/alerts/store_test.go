package alerts

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
)

// TestStore: on a real PostgreSQL, an alert is raised once with its
// since, keeps it while in force (its reason follows the figures), is
// cleared when no longer in force, and raised anew later; the queue's
// trend survives between evaluations; a second headquarters evaluating at
// the same time waits its turn.
func TestStore(t *testing.T) {
	ctx := context.Background()
	db, err := hqdb.Open(ctx, pgtest.Start(t).DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := Store{Pool: db.Pool(), Chain: "c"}
	b := healthy("b")
	w := &Watcher{Store: s, Thresholds: th, Every: time.Second, Log: slog.New(slog.DiscardHandler),
		Tills: func(context.Context) ([]hqdb.TillState, error) { return []hqdb.TillState{b}, nil }}
	now := t0
	w.Now = func() time.Time { return now }
	step := func(want string) []Alert {
		t.Helper()
		if err := w.Once(ctx); err != nil {
			t.Fatal(err)
		}
		as, err := s.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if kindsOf(as) != want {
			t.Fatalf("open alerts %q, want %q: %+v", kindsOf(as), want, as)
		}
		return as
	}
	step("")
	b.Heartbeat.Queue = 8
	as := step("b:queue_near_cap")
	if !as[0].Since.Equal(t0) || as[0].Reason != "8 of 10 commands queued (the cap, sales.max_queued); new sales are refused at the cap" {
		t.Errorf("%+v", as[0])
	}
	b.HeardAt, b.Heartbeat.Queue = t0.Add(10*time.Second), 9
	now = b.HeardAt
	as = step("b:queue_near_cap")
	if !as[0].Since.Equal(t0) || as[0].Reason[:7] != "9 of 10" {
		t.Errorf("kept since, new reason: %+v", as[0])
	}
	b.HeardAt, b.Heartbeat.Queue = t0.Add(20*time.Second), 10
	now = b.HeardAt
	step("b:queue_near_cap")
	b.HeardAt, b.Heartbeat.Queue = t0.Add(30*time.Second), 10
	now = b.HeardAt.Add(30 * time.Second)
	step("b:link_down b:queue_near_cap")
	b.HeardAt, b.Heartbeat.At, b.Heartbeat.Queue = now, now, 11
	as = step("b:queue_near_cap b:queue_growing") // grew at 10, 20 and 60 s, held at 30 s: since t0
	if !as[1].Since.Equal(t0) {
		t.Errorf("growing since %v, want %v", as[1].Since, t0)
	}
	b.HeardAt, b.Heartbeat.Queue = now.Add(10*time.Second), 0
	now, b.Heartbeat.At = b.HeardAt, b.HeardAt
	step("")
	var cleared, all int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE cleared_at IS NOT NULL), count(*) FROM alerts`).Scan(&cleared, &all); err != nil {
		t.Fatal(err)
	}
	if cleared != 3 || all != 3 {
		t.Errorf("%d of %d alerts cleared, want 3 of 3", cleared, all)
	}

	// While another transaction holds the chain's lock, an evaluation does
	// nothing, and reads no till (it reads them under the lock, so sees
	// what the evaluation before it wrote); another chain's goes on.
	tx, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, evaluateLock, "c"); err != nil {
		t.Fatal(err)
	}
	b.Heartbeat.Queue = 9
	waiting := *w
	waiting.Tills = func(context.Context) ([]hqdb.TillState, error) {
		t.Error("the tills read under another's lock")
		return []hqdb.TillState{b}, nil
	}
	if err := waiting.Once(ctx); err != nil {
		t.Errorf("evaluated under another's lock: %v", err)
	}
	if _, ok, err := (Store{Pool: db.Pool(), Chain: "d"}).Apply(ctx, now, func(tr map[wire.Till]Trend) ([]Alert, map[wire.Till]Trend, error) {
		return nil, nil, nil
	}); !ok || err != nil {
		t.Errorf("another chain waited for chain c's lock: ok %v, err %v", ok, err)
	}
	_ = tx.Rollback(ctx)
	step("b:queue_near_cap")
}
