package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Remote technician actions: headquarters sends a request on the box's
// action subject (only headquarters' user may publish there); the link
// hands it to Options.Act and publishes the answer on the request's
// reply subject (the box's user may answer what it received, nothing
// more). Each action is logged with who asked; headquarters records it.

// maxActions is how many actions a box works on at once; more are
// refused until one is done.
const maxActions = 4

// actionLoop answers headquarters' actions for as long as ctx lasts. The
// subscription lives with the connection: nats.go subscribes again after
// each reconnect.
func (l *Link) actionLoop(ctx context.Context, nc *nats.Conn) {
	msgs := make(chan *nats.Msg, maxActions)
	sub, err := nc.ChanSubscribe(l.o.Till.ActionSubject(), msgs)
	if err != nil {
		l.noteErr("actions", err)
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxActions)
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-msgs:
			select {
			case slots <- struct{}{}:
				wg.Go(func() {
					defer func() { <-slots }()
					l.answer(ctx, nc, m)
				})
			default:
				l.reply(nc, m, refusal(m, fmt.Sprintf("the box is busy with %d other actions: try again in a moment", maxActions)))
			}
		}
	}
}

// answer runs one action and publishes its reply.
func (l *Link) answer(ctx context.Context, nc *nats.Conn, m *nats.Msg) {
	var req wire.ActionRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		l.log.Warn("headquarters action refused: not an action request", "err", err)
		l.reply(nc, m, wire.ActionReply{Outcome: wire.OutcomeRefused, Error: "not an action request: " + err.Error()})
		return
	}
	if err := req.Check(); err != nil {
		l.log.Warn("headquarters action refused", "id", req.ID, "operator", req.Operator, "err", err)
		l.reply(nc, m, wire.ActionReply{ID: req.ID, Action: req.Action, Outcome: wire.OutcomeRefused, Error: err.Error()})
		return
	}
	l.log.Info("headquarters action", "id", req.ID, "action", req.Action, "operator", req.Operator,
		"level", req.Args.Level, "wait", req.Args.Wait(), "phone", req.Args.Phone != "")
	rep := l.o.Act(ctx, req)
	rep.ID, rep.Action = req.ID, req.Action
	if rep.Outcome == "" {
		rep.Outcome = wire.OutcomeOK
	}
	if rep.Outcome != wire.OutcomeOK {
		l.log.Warn("headquarters action not done", "id", req.ID, "action", req.Action, "outcome", rep.Outcome, "err", rep.Error)
	}
	l.reply(nc, m, rep)
}

// reply publishes rep on m's reply subject and flushes it (a restart may
// follow at once).
func (l *Link) reply(nc *nats.Conn, m *nats.Msg, rep wire.ActionReply) {
	if m.Reply == "" {
		return // a publish without a reply subject: nobody waits
	}
	if err := nc.Publish(m.Reply, rep.Marshal()); err != nil {
		l.noteErr("action reply", err)
		return
	}
	if err := nc.FlushTimeout(l.o.Timeout); err != nil {
		l.noteErr("action reply", err)
	}
}

// refusal is the reply to m without looking further into it.
func refusal(m *nats.Msg, why string) wire.ActionReply {
	var req wire.ActionRequest
	_ = json.Unmarshal(m.Data, &req)
	return wire.ActionReply{ID: req.ID, Action: req.Action, Outcome: wire.OutcomeRefused, Error: why}
}
