package fleetdemo_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo/fleetdemotest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
)

// startChain runs a chain of two stores (three boxes) on a TLS
// nats-server and PostgreSQL, with the boxes polling only every minute:
// an outcome within seconds came by the relayed webhook.
func startChain(t *testing.T, ctx context.Context) (*fleetdemo.Chain, *pgtest.Postgres) {
	t.Helper()
	tillbox, hq := fleetdemotest.Binaries(t)
	stores := []fleetdemo.Store{{ID: "oslo-1", MSN: "100001", Tills: []string{"t1", "t2"}}, {ID: "bergen-1", MSN: "100002", Tills: []string{"t1"}}}
	ns := natstest.Start(t, natstest.Options{TLS: true, Tills: fleetdemotest.Tills("kaffe", stores)})
	pg := pgtest.Start(t)
	c, err := fleetdemo.Start(ctx, fleetdemo.Options{
		Chain: "kaffe", Stores: stores, Dir: t.TempDir(), TillboxBin: tillbox, HQBin: hq,
		NATS: fleetdemotest.NATS([]string{ns.URL()}, ns, 1), PostgresDSN: pg.DSN(),
		Heartbeat: time.Second, PollDelay: time.Minute, PollEvery: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("headquarters:\n%s", c.HQ().Log())
			for _, b := range c.Boxes() {
				t.Logf("%s:\n%s", b.Name(), b.Log())
			}
		}
	})
	return c, pg
}

// TestChainSales: every box sells by its scanner; each sale completes by
// the relayed webhook (polling waits a minute), a declined one declines,
// a box killed with SIGKILL and restarted goes on, and every sale is at
// headquarters in PostgreSQL with its outcome.
func TestChainSales(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, pg := startChain(t, ctx)
	for _, b := range c.Boxes() {
		if b.URL() == "" || b.TechnicianURL() == "" {
			t.Fatalf("%s: POS %q, technician page %q", b.Name(), b.URL(), b.TechnicianURL())
		}
	}
	const each = 3
	s := c.RunSales(ctx, fleetdemo.SalesOptions{Rate: 20, Max: each, DeclineEvery: 3})
	s.Wait()
	// The first box again, after a SIGKILL.
	b := c.Boxes()[0]
	b.Kill()
	if b.Running() || b.URL() != "" {
		t.Fatal("the killed box still runs")
	}
	if err := b.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	s2 := c.RunSales(ctx, fleetdemo.SalesOptions{Rate: 20, Max: 1, Amounts: []int64{3300}})
	s2.Wait()
	results := append(s.Results(), s2.Results()...)
	if len(results) != len(c.Boxes())*each+len(c.Boxes()) {
		started, done := s.Counts()
		t.Fatalf("%d sales reached their outcome (first stream %d started, %d done)", len(results), started, done)
	}
	want := map[string]agent.State{}
	for _, r := range results {
		w := agent.Completed
		if r.Amount == fleetdemo.DeclinedAmount {
			w = agent.Declined
		}
		if r.State != w {
			t.Errorf("%s: %s, want %s", r.Reference, r.State, w)
		}
		if r.Outcome.Sub(r.Created) > 30*time.Second {
			t.Errorf("%s took %v: not by the relayed webhook", r.Reference, r.Outcome.Sub(r.Created))
		}
		want[r.Reference] = w
	}
	checkAtHQ(t, ctx, pg.DSN(), want)
}

// checkAtHQ waits until headquarters' sales table holds every sale with
// its state.
func checkAtHQ(t *testing.T, ctx context.Context, dsn string, want map[string]agent.State) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var missing []string
	for ctx.Err() == nil {
		missing = missing[:0]
		for ref, st := range want {
			var got string
			err := conn.QueryRow(ctx, "SELECT state FROM sales WHERE reference = $1", ref).Scan(&got)
			if err != nil || got != string(st) {
				missing = append(missing, ref+"="+got)
			}
		}
		if len(missing) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond) // headquarters ingests in batches
	}
	t.Fatalf("not at headquarters as the boxes say: %v", missing)
}
