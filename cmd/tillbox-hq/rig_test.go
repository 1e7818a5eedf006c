package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
)

// startPG starts PostgreSQL for the test (internal/pgtest).
func startPG(t testing.TB) *pgtest.Postgres { return pgtest.Start(t) }

// pgConn connects to dsn for the test's own queries.
func pgConn(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// freePort is a TCP port of 127.0.0.1 nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// chainNATS is the NATS servers of a test: one node or a cluster, TLS
// with the test's CA, a user for headquarters and one per box.
type chainNATS struct {
	urls    string
	servers []*natstest.Server
	one     *natstest.Server // any node: the users and the CA are shared
}

func startNATS(t testing.TB, tills ...wire.Till) *chainNATS {
	t.Helper()
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: tills})
	return &chainNATS{urls: s.URL(), servers: []*natstest.Server{s}, one: s}
}

func startNATSCluster(t testing.TB, tills ...wire.Till) *chainNATS {
	t.Helper()
	c := natstest.StartCluster(t, 3, natstest.Options{TLS: true, Tills: tills})
	return &chainNATS{urls: c.URLs(), servers: c.Servers(), one: c.Server(0)}
}

// hqClient connects as headquarters' user.
func (n *chainNATS) hqClient(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return jsOf(t, n.one.Connect(t, n.urls, n.one.HQ(), nats.ReconnectWait(100*time.Millisecond)))
}

// boxClient connects as till's box.
func (n *chainNATS) boxClient(t testing.TB, till wire.Till) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return jsOf(t, n.one.Connect(t, n.urls, n.one.Box(till), nats.ReconnectWait(100*time.Millisecond)))
}

func jsOf(t testing.TB, nc *nats.Conn) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
