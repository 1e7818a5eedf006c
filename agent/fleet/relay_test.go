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
