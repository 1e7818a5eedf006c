package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// TestShipsEveryEventOnce: over TLS with the box's own credentials, every
// event reaches headquarters once, in order, as stored: those logged
// before the link started and those logged while it runs; the shipped
// mark follows in the store; the heartbeat says so.
func TestShipsEveryEventOnce(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	js := hq(t, s)
	hqStreams(t, js, time.Minute)
	j := watchJournal(t, js, tillA)

	b := newBox(t, "", store.Options{})
	b.add(t, 150, time.Time{}) // more than one read of the store
	l := b.run(t, boxOptions(s, tillA))
	j.waitCount(t, 150)
	b.add(t, 30, time.Time{})
	j.waitCount(t, 180)
	st := l.until(t, "no lag", func(s Status) bool { return s.Lag == 0 && s.LastSeq == 180 })
	if !st.Connected || st.Shipped != 180 || st.Published != 180 || st.AtHQ != 0 {
		t.Errorf("status %+v", st)
	}
	j.check(t, tillA, b.raw(t))

	// The heartbeat: the box's own, with the log's position.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	hb, err := js.Stream(ctx, wire.HeartbeatStream)
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := hb.GetLastMsgForSubject(ctx, tillA.HeartbeatSubject())
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatal(err)
		}
		var h wire.Heartbeat
		if m != nil {
			if err := json.Unmarshal(m.Data, &h); err != nil {
				t.Fatal(err)
			}
		}
		if h.Till == tillA && h.LastSeq == 180 && h.Shipped == 180 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("last heartbeat %+v", h)
		}
		<-time.After(100 * time.Millisecond) // the next heartbeat is a second away at most
	}

	l.stop()
	if got := b.shipped(t); got != 180 {
		t.Errorf("shipped mark in the store after stop: %d, want 180", got)
	}
}
