package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// acted records the actions a box was asked for and answers a status
// naming the box.
type acted struct {
	name string
	mu   sync.Mutex
	reqs []wire.ActionRequest
}

func (a *acted) act(_ context.Context, req wire.ActionRequest) wire.ActionReply {
	a.mu.Lock()
	a.reqs = append(a.reqs, req)
	a.mu.Unlock()
	return wire.ActionReply{Status: &wire.BoxStatus{Version: a.name}}
}

func (a *acted) got() []wire.ActionRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]wire.ActionRequest(nil), a.reqs...)
}

// request asks till for req as headquarters does, waiting for the box to
// be subscribed (no responders until then).
func request(t *testing.T, nc *nats.Conn, till wire.Till, req wire.ActionRequest) wire.ActionReply {
	t.Helper()
	data, _ := json.Marshal(req)
	deadline := time.Now().Add(wait)
	for {
		m, err := nc.Request(till.ActionSubject(), data, 10*time.Second)
		if errors.Is(err, nats.ErrNoResponders) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // the box is not subscribed yet: ask again
			continue
		}
		if err != nil {
			t.Fatalf("asking %s for %s: %v", till, req.Action, err)
		}
		var rep wire.ActionReply
		if err := json.Unmarshal(m.Data, &rep); err != nil {
			t.Fatalf("reply %q: %v", m.Data, err)
		}
		return rep
	}
}

// violations collects a connection's permission violations.
type violations chan error

func (v violations) option() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			select {
			case v <- err:
			default:
			}
		}
	})
}

// want waits for the server's refusal naming subject.
func (v violations) want(t *testing.T, subject string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case err := <-v:
			if strings.Contains(err.Error(), `"`+subject+`"`) {
				return
			}
		case <-deadline:
			t.Fatalf("the server did not refuse %s", subject)
		}
	}
}

// TestActions: headquarters asks a box for an action on its action
// subject and gets the box's answer; a request the box cannot read is
// refused with a reason; and a box can neither ask another box for an
// action, nor read another box's actions, nor publish a "reply" to a
// request it never received.
func TestActions(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA, tillB}})
	hqStreams(t, hq(t, s), time.Minute)
	hqnc := s.Connect(t, s.URL(), s.HQ())
	aa, ab := &acted{name: "box-a"}, &acted{name: "box-b"}
	oa, ob := boxOptions(s, tillA), boxOptions(s, tillB)
	oa.Act, ob.Act = aa.act, ab.act
	newBox(t, "", store.Options{}).run(t, oa)
	newBox(t, "", store.Options{}).run(t, ob)

	rep := request(t, hqnc, tillA, wire.ActionRequest{ID: "17", Action: wire.ActionStatus, Operator: "alice"})
	if rep.ID != "17" || rep.Action != wire.ActionStatus || rep.Outcome != wire.OutcomeOK || rep.Status == nil || rep.Status.Version != "box-a" {
		t.Fatalf("box A's answer: %+v", rep)
	}
	if got := aa.got(); len(got) != 1 || got[0].Operator != "alice" {
		t.Errorf("box A was asked %+v", got)
	}
	rep = request(t, hqnc, tillB, wire.ActionRequest{ID: "18", Action: wire.ActionLogs, Operator: "alice", Args: wire.ActionArgs{Level: "warn"}})
	if rep.ID != "18" || rep.Status == nil || rep.Status.Version != "box-b" {
		t.Fatalf("box B's answer: %+v", rep)
	}
	// What the box cannot act on is refused with the reason, unacted.
	rep = request(t, hqnc, tillA, wire.ActionRequest{ID: "19", Action: "format-disk", Operator: "alice"})
	if rep.Outcome != wire.OutcomeRefused || !strings.Contains(rep.Error, "unknown") {
		t.Errorf("an unknown action: %+v", rep)
	}
	rep = request(t, hqnc, tillA, wire.ActionRequest{ID: "20", Action: wire.ActionLogs, Operator: "alice", Args: wire.ActionArgs{Level: "chatty"}})
	if rep.Outcome != wire.OutcomeRefused || !strings.Contains(rep.Error, "level") {
		t.Errorf("a bad level: %+v", rep)
	}
	if n := len(aa.got()); n != 1 {
		t.Errorf("box A acted on %d requests, want the one valid", n)
	}

	// Box B's own credentials, as a box that tries what it must not.
	v := make(violations, 64)
	bnc := s.Connect(t, s.URL(), s.Box(tillB), v.option())
	if err := bnc.Publish(tillA.ActionSubject(), []byte(`{"id":"66","action":"restart","operator":"b"}`)); err != nil {
		t.Fatal(err)
	}
	v.want(t, tillA.ActionSubject())
	if _, err := bnc.Subscribe(tillA.ActionSubject(), func(*nats.Msg) { t.Error("box B read box A's action") }); err != nil {
		t.Fatal(err)
	}
	v.want(t, tillA.ActionSubject())
	if _, err := bnc.Subscribe("tillbox.acme.action.>", func(*nats.Msg) { t.Error("box B read the chain's actions") }); err != nil {
		t.Fatal(err)
	}
	v.want(t, "tillbox.acme.action.>")
	// A "reply" to a request B never received: only answers are allowed.
	if err := bnc.Publish("_INBOX.forged", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	v.want(t, "_INBOX.forged")
	// Headquarters' next request to A still reaches A alone.
	rep = request(t, hqnc, tillA, wire.ActionRequest{ID: "21", Action: wire.ActionStatus, Operator: "alice"})
	if rep.Status == nil || rep.Status.Version != "box-a" {
		t.Errorf("box A's answer after B's tries: %+v", rep)
	}
	if got := aa.got(); len(got) != 2 || got[1].ID != "21" {
		t.Errorf("box A was asked %+v: B's forged restart must not reach it", got)
	}
}
