package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo/fleetdemotest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
	"github.com/tillbox/tillbox/display/technician"
)

// opsChain is a chain of real processes, as the tests of headquarters'
// parts start it: PostgreSQL, one nats-server (TLS, a user per box),
// tillbox-hq as a process (this test binary) and the stores' `tillbox
// run` boxes with the simulator (fleetdemo), the fleet page's operator
// "ops" signing in with password. When the test fails, the tails of
// headquarters' and the boxes' logs are in its output.
func opsChain(t *testing.T, stores []fleetdemo.Store, password string) (*fleetdemo.Chain, *pgtest.Postgres) {
	t.Helper()
	hash, err := technician.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	pg := pgtest.Start(t)
	ns := natstest.Start(t, natstest.Options{TLS: true, Tills: fleetdemotest.Tills(testChain, stores)})
	logs := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := fleetdemo.Start(ctx, fleetdemo.Options{
		Chain: testChain, Stores: stores, Dir: t.TempDir(),
		TillboxBin: buildTillbox(t), HQBin: hqAsProcess(t),
		NATS: fleetdemotest.NATS([]string{ns.URL()}, ns, 1), PostgresDSN: pg.DSN(), Heartbeat: time.Second,
		Users:  []fleetdemo.User{{Name: "ops", PasswordHash: hash}},
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatalf("the chain does not start: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("stopping the chain: %v", err)
		}
		if t.Failed() {
			t.Logf("tillbox-hq's log (tail):\n%s", tail(c.HQ().Log(), 100))
			for _, b := range c.Boxes() {
				t.Logf("%s's log (tail):\n%s", b.Till, tail(b.Log(), 60))
			}
		}
	})
	return c, pg
}
