package actions

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetpage"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
)

// wait bounds every wait: long, for a busy 2-core machine; a wait ends at
// its event.
const wait = 2 * time.Minute

var till = wire.Till{Chain: "acme", Store: "oslo", Till: "t1"}

// rig is PostgreSQL migrated, a nats-server, a runner on headquarters'
// user, and a second connection as headquarters playing the box (it may
// answer anything, or nothing).
type rig struct {
	db  *hqdb.DB
	r   *Runner
	box *nats.Conn
}

func newRig(t *testing.T, o Options) *rig {
	t.Helper()
	pg := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	db, err := hqdb.Open(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{till}})
	o.NC, o.DB, o.Chain = s.Connect(t, s.URL(), s.HQ()), db, till.Chain
	r := New(o)
	t.Cleanup(func() { r.Close(context.Background()) })
	return &rig{db: db, r: r, box: s.Connect(t, s.URL(), s.HQ())}
}

// run starts the action as "alice" and returns its record once answered.
func (g *rig) run(t *testing.T, action string, args wire.ActionArgs) fleetpage.Action {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	id, done, err := g.r.Start(ctx, "alice", till, action, args)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("action %d not answered", id)
	}
	a, err := g.db.Action(ctx, till.Chain, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.AnsweredAt.IsZero() || a.Operator != "alice" || a.Action != action {
		t.Errorf("the record: %+v", a)
	}
	return a
}

// answer makes the fake box answer each request with reply(req).
func (g *rig) answer(t *testing.T, reply func(wire.ActionRequest) *wire.ActionReply) {
	t.Helper()
	sub, err := g.box.Subscribe(till.ActionSubject(), func(m *nats.Msg) {
		var req wire.ActionRequest
		_ = json.Unmarshal(m.Data, &req)
		if rep := reply(req); rep != nil {
			_ = m.Respond(rep.Marshal())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.box.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
}

// TestNoAnswer: what becomes of an action the box does not answer, or
// answers wrongly, is recorded with the reason.
func TestNoAnswer(t *testing.T) {
	g := newRig(t, Options{Timeout: time.Second})
	// No box connected: at once.
	a := g.run(t, wire.ActionStatus, wire.ActionArgs{})
	if a.Outcome != hqdb.OutcomeNoAnswer || !strings.Contains(a.Error, "offline") || a.Reply != nil {
		t.Errorf("no box: %+v", a)
	}
	// A box that says nothing: after the time.
	var silent atomic.Bool
	g.answer(t, func(req wire.ActionRequest) *wire.ActionReply {
		switch {
		case silent.Load():
			return nil
		case req.Action == wire.ActionScanners:
			return &wire.ActionReply{ID: "other", Action: req.Action, Outcome: wire.OutcomeOK}
		}
		return &wire.ActionReply{ID: req.ID, Action: req.Action, Outcome: wire.OutcomeRefused, Error: "not allowed here"}
	})
	a = g.run(t, wire.ActionScanners, wire.ActionArgs{})
	if a.Outcome != hqdb.OutcomeNoAnswer || !strings.Contains(a.Error, "does not read") {
		t.Errorf("an answer to another action: %+v", a)
	}
	a = g.run(t, wire.ActionTestPayment, wire.ActionArgs{Phone: "4798765432", WaitSeconds: 1})
	if a.Outcome != wire.OutcomeRefused || a.Error != "not allowed here" || a.Args.Phone != "•••••••432" {
		t.Errorf("a refusal: %+v", a)
	}
	silent.Store(true)
	a = g.run(t, wire.ActionLogs, wire.ActionArgs{})
	if a.Outcome != hqdb.OutcomeNoAnswer || !strings.Contains(a.Error, "did not answer within 1s") ||
		a.Args.Level != "info" || a.Args.Limit != wire.DefaultLogRecords {
		t.Errorf("a silent box: %+v", a)
	}
	if _, _, err := g.r.Start(context.Background(), "alice", wire.Till{Chain: "other", Store: "s", Till: "t"}, wire.ActionStatus, wire.ActionArgs{}); err == nil {
		t.Error("an action for another chain's till was started")
	}
}

// TestRestartBack: a restart the box says it does is complete once a
// later process answers; one whose box never comes back is a failure,
// and a headquarters that stops meanwhile records it.
func TestRestartBack(t *testing.T) {
	g := newRig(t, Options{BackWithin: 3 * time.Second, BackEvery: 50 * time.Millisecond})
	old := time.Now().Add(-time.Hour)
	var statuses atomic.Int32
	var up atomic.Bool
	g.answer(t, func(req wire.ActionRequest) *wire.ActionReply {
		rep := &wire.ActionReply{ID: req.ID, Action: req.Action, Outcome: wire.OutcomeOK}
		if req.Action == wire.ActionRestart {
			rep.Restart = &wire.RestartReply{Restarting: true, WaitedSeconds: 4, Started: old}
			return rep
		}
		started := old // still the old process, shutting down
		if statuses.Add(1) > 2 && up.Load() {
			started = time.Now()
		}
		rep.Status = &wire.BoxStatus{Version: "2.0", Started: started}
		return rep
	})
	up.Store(true)
	a := g.run(t, wire.ActionRestart, wire.ActionArgs{WaitSeconds: 60})
	if a.Outcome != wire.OutcomeOK || !strings.Contains(a.Result, "restarted after waiting 4 s") || !strings.Contains(a.Result, "version 2.0") {
		t.Errorf("a restart that came back: %+v", a)
	}
	up.Store(false)
	a = g.run(t, wire.ActionRestart, wire.ActionArgs{})
	if a.Outcome != wire.OutcomeFailed || !strings.Contains(a.Error, "did not answer again") {
		t.Errorf("a restart that never came back: %+v", a)
	}
	// Headquarters stops while the box is not back.
	id, done, err := g.r.Start(context.Background(), "alice", till, wire.ActionRestart, wire.ActionArgs{})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) { // wait for the box's "restarting"
		rec, err := g.db.Action(context.Background(), till.Chain, id)
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("the restart's progress: %+v %v", rec, err)
		}
		if strings.HasPrefix(rec.Result, "restarting") {
			break
		}
	}
	closed, cancel := context.WithCancel(context.Background())
	cancel()
	g.r.Close(closed)
	<-done
	rec, err := g.db.Action(context.Background(), till.Chain, id)
	if err != nil || rec.Outcome != wire.OutcomeFailed || !strings.Contains(rec.Error, "headquarters stopped") {
		t.Errorf("a restart when headquarters stopped: %+v %v", rec, err)
	}
	if _, _, err := g.r.Start(context.Background(), "alice", till, wire.ActionStatus, wire.ActionArgs{}); err == nil {
		t.Error("an action started after Close")
	}
}
