package fleet

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// TestServerRestart: headquarters' server goes down while the box ships
// and logs; sales go on (the log grows in the store); when the server is
// back on the same store, the link reconnects by itself and every event
// is at headquarters once, in order.
func TestServerRestart(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	js := hq(t, s)
	hqStreams(t, js, time.Minute)
	b := newBox(t, "", store.Options{})
	l := b.run(t, boxOptions(s, tillA))
	b.add(t, 50, time.Time{})
	l.until(t, "50 shipped", func(s Status) bool { return s.Shipped == 50 })

	s.Kill()
	l.until(t, "disconnected", func(s Status) bool { return !s.Connected })
	start := time.Now()
	b.add(t, 40, time.Time{}) // the box logs on, unhindered
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("logging 40 events with headquarters down took %s", d)
	}
	if st := l.Status(); st.Lag != 40 || st.Connected {
		t.Errorf("while down: %+v, want a lag of 40", st)
	}
	s.Restart()
	st := l.until(t, "caught up", func(s Status) bool { return s.Connected && s.Lag == 0 && s.LastSeq == 90 })
	if st.Reconnects < 1 {
		t.Errorf("reconnects %d", st.Reconnects)
	}
	j := watchJournal(t, hq(t, s), tillA)
	j.waitCount(t, 90)
	j.check(t, tillA, b.raw(t))
}

// expireDuplicates waits until the journal's de-duplication window has
// passed for every id published before the call: a canary id published
// now is taken again (not a duplicate) once the window has passed for it.
func expireDuplicates(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	canary := wire.Till{Chain: "acme", Store: "canary", Till: "c"}
	id := "canary-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	publish := func() bool {
		ack, err := js.Publish(ctx, canary.JournalSubject(), []byte("canary"), jetstream.WithMsgID(id))
		if err != nil {
			t.Fatal(err)
		}
		return ack.Duplicate
	}
	if publish() {
		t.Fatal("a new id is a duplicate")
	}
	for publish() { // the server forgets the id once its window has passed
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the de-duplication window did not pass")
		}
	}
}

// TestStaleReplayRefused: after a long outage, an append from a stale
// position (the acknowledgement of an event was lost, its de-duplication
// id has expired) is refused by the sequence check: nothing is stored
// twice, and the link reads what headquarters holds and goes on after it.
func TestStaleReplayRefused(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	js := hq(t, s)
	hqStreams(t, js, time.Second)
	j := watchJournal(t, js, tillA)
	b := newBox(t, "", store.Options{})
	b.add(t, 5, time.Time{})
	l := b.run(t, boxOptions(s, tillA))
	l.until(t, "5 shipped", func(s Status) bool { return s.Shipped == 5 })
	l.stop()
	expireDuplicates(t, js)

	// Event 3 again, from where the box was before it: refused.
	o := boxOptions(s, tillA)
	nc, err := nats.Connect(s.URL(), s.ConnectOptions(s.Box(tillA))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	stale := &Link{o: o, db: b.db, log: l.log, state: newSignal()}
	stale.o.MarkEvery, stale.o.MarkAfter, stale.o.Timeout = 1, time.Hour, 5*time.Second
	evs := b.raw(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err = stale.publish(ctx, nc, evs[2], &position{next: 3, streamSeq: 2})
	if !errors.Is(err, errResync) {
		t.Fatalf("a stale replay outside the de-duplication window: %v, want a refusal (10071)", err)
	}
	// The link resumes after what headquarters holds.
	b.add(t, 3, time.Time{})
	l2 := b.run(t, o)
	l2.until(t, "8 shipped", func(s Status) bool { return s.Shipped == 8 && s.Lag == 0 })
	j.waitCount(t, 8)
	j.check(t, tillA, b.raw(t))
}

// TestUnshippedSurvivePrune: while headquarters is out of reach, events
// past their retention are kept; once shipped (and the mark written) a
// prune takes them.
func TestUnshippedSurvivePrune(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	js := hq(t, s)
	hqStreams(t, js, time.Minute)
	s.Stop()
	b := newBox(t, "", store.Options{EventRetention: time.Hour})
	old := time.Now().Add(-48 * time.Hour)
	b.add(t, 20, old)
	l := b.run(t, boxOptions(s, tillA))
	if p, err := b.db.Prune(time.Now()); err != nil || p.Events != 0 {
		t.Fatalf("prune with nothing shipped: %+v %v; want every event kept", p, err)
	}
	s.Restart()
	l.until(t, "20 shipped", func(s Status) bool { return s.Shipped == 20 })
	l.stop() // writes the mark
	if p, err := b.db.Prune(time.Now()); err != nil || p.Events != 20 {
		t.Fatalf("prune once shipped: %+v %v; want the 20 old events", p, err)
	}
}
