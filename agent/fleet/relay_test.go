package fleet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// relayed collects the bodies a link hands to the box.
type relayed struct {
	mu     sync.Mutex
	bodies []string
	fail   int // the first fail calls fail (delivered again later)
}

func (r *relayed) relay(_ context.Context, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return fmt.Errorf("the agent is busy")
	}
	r.bodies = append(r.bodies, string(body))
	return nil
}

func (r *relayed) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

// TestRelay: a webhook headquarters relays to a till reaches that box
// (again after a failure of the box's), and only that box: box A never
// sees box B's webhooks, even those relayed while A was not connected.
func TestRelay(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA, tillB}})
	js := hq(t, s)
	hqStreams(t, js, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	publish := func(till wire.Till, body string) {
		t.Helper()
		if _, err := js.Publish(ctx, till.RelaySubject(), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	// Relayed before either box ever connected: the durable consumer
	// starts at the stream's start.
	publish(tillB, `{"reference":"tb-t2-1"}`)

	var ra, rb relayed
	rb.fail = 1
	oa, ob := boxOptions(s, tillA), boxOptions(s, tillB)
	oa.Relay, ob.Relay = ra.relay, rb.relay
	ob.RetryMax = 100 * time.Millisecond // the delay of a delivery again after a failure
	a := newBox(t, "", store.Options{}).run(t, oa)
	bl := newBox(t, "", store.Options{}).run(t, ob)
	publish(tillA, `{"reference":"tb-t1-1"}`)
	publish(tillB, `{"reference":"tb-t2-2"}`)

	a.until(t, "A's webhook", func(s Status) bool { return s.Relayed == 1 })
	bl.until(t, "B's two webhooks", func(s Status) bool { return s.Relayed == 2 })
	if got := ra.got(); len(got) != 1 || got[0] != `{"reference":"tb-t1-1"}` {
		t.Errorf("box A got %q", got)
	}
	// The one that failed comes again, after the other: webhooks out of
	// order are harmless (the agent settles from a GET).
	if got := rb.got(); len(got) != 2 || !slices.Contains(got, `{"reference":"tb-t2-1"}`) || !slices.Contains(got, `{"reference":"tb-t2-2"}`) {
		t.Errorf("box B got %q", got)
	}
	// One more for B: A still has only its own.
	publish(tillB, `{"reference":"tb-t2-3"}`)
	bl.until(t, "B's third webhook", func(s Status) bool { return s.Relayed == 3 })
	if got := ra.got(); len(got) != 1 || a.Status().Relayed != 1 {
		t.Errorf("box A got %q", got)
	}
	if st := a.Status(); st.LastError != "" {
		t.Errorf("box A's last error: %s", st.LastError)
	}
}

// TestRelayAfterRestart: headquarters' server killed and restarted, the
// box's durable consumer is still there and the box pulls from it again:
// a webhook relayed while the box was cut off, and one after, both reach
// it.
func TestRelayAfterRestart(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	js := hq(t, s)
	hqStreams(t, js, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	publish := func(body string) {
		t.Helper()
		if _, err := js.Publish(ctx, tillA.RelaySubject(), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	var ra relayed
	o := boxOptions(s, tillA)
	o.Relay = ra.relay
	a := newBox(t, "", store.Options{}).run(t, o)
	publish(`{"reference":"tb-t1-1"}`)
	a.until(t, "the first webhook", func(s Status) bool { return s.Relayed == 1 })

	s.Kill()
	a.until(t, "the link down", func(s Status) bool { return !s.Connected })
	s.Restart()
	publish(`{"reference":"tb-t1-2"}`) // as soon as headquarters is back
	a.until(t, "the webhook relayed while the box was away", func(s Status) bool { return s.Relayed == 2 })
	a.until(t, "connected again", func(s Status) bool { return s.Connected && s.Reconnects >= 1 })
	publish(`{"reference":"tb-t1-3"}`)
	a.until(t, "the webhook after the reconnect", func(s Status) bool { return s.Relayed == 3 })
	if got := ra.got(); !slices.Equal(got, []string{`{"reference":"tb-t1-1"}`, `{"reference":"tb-t1-2"}`, `{"reference":"tb-t1-3"}`}) {
		t.Errorf("the box got %q", got)
	}
}
