package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// TestRejectedStatusIsDropped: a status the box can never record (its
// hook's error wraps ErrRejected) is dropped at once, not asked for again
// every second for ever; and the box's consumers bound the deliveries of
// a message.
func TestRejectedStatusIsDropped(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	hqjs := hq(t, s)
	hqStreams(t, hqjs, time.Minute)
	if _, err := hqjs.CreateStream(ctx, jetstream.StreamConfig{Name: wire.RefundStream, Subjects: wire.RefundStreamSubjects(tillA.Chain)}); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	o := boxOptions(s, tillA)
	o.Refunds = &RefundHooks{Status: func(st wire.RefundStatus) error {
		calls.Add(1)
		return fmt.Errorf("%w: the sale of refund %s: not a sale", ErrRejected, st.Key)
	}}
	b := newBox(t, "", store.Options{})
	b.run(t, o)

	body, _ := json.Marshal(wire.RefundStatus{Key: "k1", Step: 1, Reference: "oslo-1-t2-000001", RefundID: "r1", State: wire.RefundQueued, Sale: json.RawMessage(`"x"`)})
	if _, err := hqjs.Publish(ctx, tillA.RefundStatusSubject(), body); err != nil {
		t.Fatal(err)
	}
	c := tillA.RefundStatusConsumer()
	deadline := time.Now().Add(wait)
	maxDel := 0
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the status is still pending after %d tries", calls.Load())
		}
		cons, err := hqjs.Consumer(ctx, wire.RefundStream, c.Name)
		if err == nil {
			info, err := cons.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			maxDel = info.Config.MaxDeliver
			if info.Delivered.Stream == 1 && info.NumAckPending == 0 && info.NumRedelivered == 0 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if maxDel != maxDeliver {
		t.Errorf("the status consumer's max deliver is %d, want %d", maxDel, maxDeliver)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the hook saw the status %d times, want once", n)
	}
}

// TestRefundAskedWithoutAnAck: a request whose acknowledgement does not
// come in time may be stored at headquarters: it is "no answer yet" (ask
// again with the same refundId), never "nothing was asked"; a request
// nothing listens for was not asked.
func TestRefundAskedWithoutAnAck(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	hqjs := hq(t, s)
	hqStreams(t, hqjs, time.Minute)
	o := boxOptions(s, tillA)
	o.Timeout = time.Second
	o.Refunds = &RefundHooks{Status: func(wire.RefundStatus) error { return nil }}
	r := newBox(t, "", store.Options{}).run(t, o)
	deadline := time.Now().Add(wait)
	for nc := r.refunds.conn(); nc == nil || !nc.IsConnected(); nc = r.refunds.conn() {
		if time.Now().After(deadline) {
			t.Fatal("the link's refunds never connected")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Nothing listens on the request subject: not asked.
	_, err := r.RefundElsewhere(ctx, "oslo-1-t2-000001", 100, "r1", time.Second)
	if !errors.Is(err, ErrHQUnreachable) {
		t.Errorf("a request nothing listens for: %v, want ErrHQUnreachable", err)
	}

	// Something takes the request and never acknowledges it.
	hqnc := s.Connect(t, s.URL(), s.HQ())
	sub, err := hqnc.SubscribeSync(tillA.RefundRequestSubject())
	if err != nil {
		t.Fatal(err)
	}
	if err := hqnc.Flush(); err != nil {
		t.Fatal(err)
	}
	_, err = r.RefundElsewhere(ctx, "oslo-1-t2-000001", 100, "r1", time.Second)
	if !errors.Is(err, ErrNoAnswer) || errors.Is(err, ErrHQUnreachable) {
		t.Errorf("a request taken without an acknowledgement: %v, want ErrNoAnswer", err)
	}
	if _, err := sub.NextMsg(wait); err != nil {
		t.Errorf("the request never came: %v", err)
	}
}
