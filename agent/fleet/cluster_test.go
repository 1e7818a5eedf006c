package fleet

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// TestClusterLeaderKilled: headquarters runs a 3-node cluster with the
// journal replicated three times; the stream's leader is killed with
// SIGKILL while the box ships. The link carries on with the other nodes
// (a replica may answer the resume's read behind the leader: the sequence
// check catches that) and, once the node is back, every event is at
// headquarters once, in order.
func TestClusterLeaderKilled(t *testing.T) {
	c := natstest.StartCluster(t, 3, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	js, err := jetstream.New(c.Connect(t, c.URLs(), c.HQ()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	// A request the meta leader drops is never answered: CreateStream asks
	// again after a short wait.
	c.CreateStream(ctx, t, js, jetstream.StreamConfig{Name: wire.JournalStream, Subjects: []string{"tillbox.*.journal.>"},
		AllowDirect: true, Duplicates: time.Minute, Replicas: 3})
	b := newBox(t, "", store.Options{})
	box := c.Box(tillA)
	l := b.run(t, Options{Till: tillA, Servers: strings.Split(c.URLs(), ","), User: box.User, Password: epayment.Secret(box.Password),
		CAFile: c.CAFile(), Heartbeat: time.Second, RetryMin: 50 * time.Millisecond, RetryMax: time.Second, Timeout: 5 * time.Second})
	b.add(t, 100, time.Time{})
	l.until(t, "some shipped", func(s Status) bool { return s.Shipped >= 20 })

	info, err := js.Stream(ctx, wire.JournalStream)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.Index(info.CachedInfo().Cluster.Leader)
	if leader < 0 {
		t.Fatalf("no leader: %+v", info.CachedInfo().Cluster)
	}
	c.Kill(leader)
	b.add(t, 50, time.Time{})
	l.until(t, "150 shipped with a node down", func(s Status) bool { return s.Shipped == 150 && s.Lag == 0 })
	c.Restart(leader)
	b.add(t, 10, time.Time{})
	l.until(t, "160 shipped", func(s Status) bool { return s.Shipped == 160 })
	j := watchJournal(t, js, tillA)
	j.waitCount(t, 160)
	j.check(t, tillA, b.raw(t))
}

// TestWebSocket: a shop that only lets HTTPS out reaches headquarters
// over wss://.
func TestWebSocket(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, WebSocket: true, Tills: []wire.Till{tillA}})
	js := hq(t, s)
	hqStreams(t, js, time.Minute)
	b := newBox(t, "", store.Options{})
	b.add(t, 10, time.Time{})
	l := b.run(t, boxOptions(s, tillA, s.WebSocketURL()))
	st := l.until(t, "10 shipped", func(s Status) bool { return s.Shipped == 10 })
	if !strings.HasPrefix(st.Server, "wss://") {
		t.Errorf("connected to %q, want wss://", st.Server)
	}
	j := watchJournal(t, js, tillA)
	j.waitCount(t, 10)
	j.check(t, tillA, b.raw(t))
}
