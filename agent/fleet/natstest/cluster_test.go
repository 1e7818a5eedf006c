package natstest_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// shipper ships box A's events one after the other, each until it is
// acknowledged: while a node dies the stream elects a new leader and a
// publish may time out; the message id makes a resend harmless.
type shipper struct {
	js   jetstream.JetStream
	seq  uint64 // the last event acknowledged
	last uint64 // its stream sequence
}

func (sh *shipper) shipN(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for range n {
		seq := sh.seq + 1
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ack, err := ship(ctx, sh.js, tillA, seq, sh.last)
			cancel()
			if err == nil {
				sh.seq, sh.last = seq, ack.Sequence
				break
			}
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == wire.ErrWrongLastSequence {
				t.Fatalf("event %d refused as out of order: %v", seq, err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %d: no acknowledgement: %v", seq, err)
			}
		}
	}
}

// waitLeader waits until stream has a leader.
func waitLeader(t *testing.T, js jetstream.JetStream, stream string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, stream)
		cancel()
		if err == nil && s.CachedInfo().Cluster != nil && s.CachedInfo().Cluster.Leader != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream %s has no leader: %v", stream, err)
		}
		<-tick.C
	}
}

// waitReplicasCurrent waits until the journal stream has a leader and two
// replicas, both current and not behind.
func waitReplicasCurrent(t *testing.T, js jetstream.JetStream) *jetstream.StreamInfo {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, wire.JournalStream)
		cancel()
		if err == nil && s.CachedInfo().Cluster == nil {
			t.Fatal("the journal stream has no cluster information")
		}
		if err == nil {
			info := s.CachedInfo()
			ok := info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 2
			for _, r := range info.Cluster.Replicas {
				ok = ok && r.Current && !r.Offline && r.Lag == 0
			}
			if ok {
				return info
			}
			last = "leader " + info.Cluster.Leader + ", " + strconv.Itoa(len(info.Cluster.Replicas)) + " replicas"
			for _, r := range info.Cluster.Replicas {
				last += ", " + r.Name + " current " + strconv.FormatBool(r.Current) + " lag " + strconv.FormatUint(r.Lag, 10)
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the journal's replicas are not current: %s", last)
		}
		<-tick.C
	}
}

func TestClusterSurvivesKill(t *testing.T) {
	c := natstest.StartCluster(t, 3, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	hq, err := jetstream.New(c.Connect(t, c.URLs(), c.HQ()))
	if err != nil {
		t.Fatal(err)
	}
	ctx1, cancel1 := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel1()
	c.CreateStream(ctx1, t, hq, jetstream.StreamConfig{Name: wire.JournalStream, Subjects: []string{"tillbox.*.journal.>"},
		AllowDirect: true, Duplicates: 2 * time.Minute, Replicas: 3})
	c.CreateStream(ctx1, t, hq, jetstream.StreamConfig{Name: wire.RelayStream, Subjects: []string{"tillbox.*.relay.>"}, Replicas: 3})
	boxnc := c.Connect(t, c.URLs(), c.Box(tillA))
	box, err := jetstream.New(boxnc)
	if err != nil {
		t.Fatal(err)
	}
	sh := &shipper{js: box}
	sh.shipN(t, 10)

	// SIGKILL the stream's leader: the two others elect a new one and the
	// box goes on shipping.
	info := waitReplicasCurrent(t, hq)
	first := c.Index(info.Cluster.Leader)
	if first < 0 {
		t.Fatalf("leader %q is none of the nodes", info.Cluster.Leader)
	}
	c.Kill(first)
	if c.Server(first).Running() {
		t.Fatal("the killed node still runs")
	}
	sh.shipN(t, 10)

	// Restarted on its ports with its store, it catches up ...
	c.Restart(first)
	info = waitReplicasCurrent(t, hq)

	// ... and counts: with another node killed (the leader unless that is
	// the restarted node), the stream's quorum is the restarted node and the
	// last one.
	second := (first + 1) % 3
	if info.Cluster.Leader != c.Server(second).Name() {
		second = (first + 2) % 3
	}
	c.Kill(second)
	sh.shipN(t, 10)

	// The box's relay consumer works on the two nodes left, once they
	// agree on JetStream's meta leader and the relay stream has a leader
	// (until then a publish finds no one to answer it).
	c.WaitMetaLeader()
	waitLeader(t, hq, wire.RelayStream)
	ctx0, cancel0 := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel0()
	relayToBox(ctx0, t, hq, box)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msg := lastMsg(ctx, t, boxnc, tillA)
	if msg.Header.Get(wire.HeaderSeq) != "30" || msg.Header.Get(wire.HeaderStreamSeq) != "30" {
		t.Fatalf("last message: event %s at stream sequence %s, want event 30 at 30", msg.Header.Get(wire.HeaderSeq), msg.Header.Get(wire.HeaderStreamSeq))
	}
}
