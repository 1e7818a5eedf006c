package fleet

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// The owner's side of a refund asked at another till: headquarters queues
// it on this box's queue subject, where it waits while the box is
// offline. The box applies each as a local refund with the order's refund
// id (so a redelivery, after a crash say, refunds nothing twice), tells
// headquarters it took it, and holds the message, unacknowledged (kept
// alive with +WPI), until the refund is over at Vipps MobilePay; then it
// tells the outcome and acknowledges. A box that stops meanwhile gets the
// message again and picks up where it was.

const (
	// queueAckWait is how long the servers wait for a word on an order
	// before they deliver it again (to the box back after a crash, say);
	// the box says it is still at it every queueProgress.
	queueAckWait  = 10 * time.Second
	queueProgress = 3 * time.Second
	// queueCheck is how often the box looks at its refunds under way
	// without an event.
	queueCheck = 2 * time.Second
)

// heldOrder is an order applied, its message held until the refund is over.
type heldOrder struct {
	order wire.RefundOrder
	reply string
	seen  time.Time // the last +WPI
}

// readQueue takes the orders of this box's queue until ctx ends or
// reading fails.
func (l *Link) readQueue(ctx context.Context, nc *nats.Conn) error {
	c := l.o.Till.RefundQueueConsumer()
	cfg := durableConfig(c, "tillbox "+l.o.Till.String()+": refunds of its sales asked at other tills", queueAckWait, 64)
	if err := ensureConsumer(ctx, nc, c, cfg, l.o.Timeout); err != nil {
		return err
	}
	held := map[string]*heldOrder{}
	p := &puller{l: l, nc: nc, c: c, tickEvery: queueCheck,
		wake:   l.o.Refunds.Changed,
		handle: func(m *nats.Msg) error { l.takeOrder(ctx, nc, m, held); return nil },
		tick:   func() { l.checkHeld(ctx, nc, held) },
	}
	return p.run(ctx)
}

// takeOrder applies one order: a refusal is told and acknowledged at
// once; a refund taken is told and held until it is over.
func (l *Link) takeOrder(ctx context.Context, nc *nats.Conn, m *nats.Msg, held map[string]*heldOrder) {
	var o wire.RefundOrder
	if err := json.Unmarshal(m.Data, &o); err != nil || o.Key == "" || o.RefundID == "" {
		l.log.Warn("refund order dropped: not an order", "subject", m.Subject)
		_ = nc.Publish(m.Reply, []byte("+TERM"))
		return
	}
	if h, ok := held[o.Key]; ok { // delivered again while held
		h.reply = m.Reply
		return
	}
	sale, refusal, err := l.o.Refunds.Apply(ctx, o.Reference, o.Amount, o.RefundID)
	if err != nil {
		l.noteErr("refund order", err)
		l.nak(nc, m, l.o.RetryMax, "refund order", err)
		return
	}
	res := wire.RefundResult{Key: o.Key, State: wire.RefundAccepted, Sale: sale, At: time.Now().UTC()}
	if refusal != nil {
		res.State, res.Refusal = wire.RefundRefused, refusal
	}
	if err := publishRefund(ctx, nc, l.o.Till.RefundResultSubject(), wire.RefundResultMsgID(o.Key, res.State), res, l.o.Timeout); err != nil {
		l.noteErr("refund result", err) // the order comes again: applied once
		return
	}
	l.log.Info("refund asked at another till", "reference", o.Reference, "asker", o.Asker.String(), "state", res.State)
	if refusal != nil {
		_ = nc.Publish(m.Reply, []byte("+ACK"))
		return
	}
	held[o.Key] = &heldOrder{order: o, reply: m.Reply, seen: time.Now()}
	l.checkHeld(ctx, nc, held)
}

// checkHeld tells the outcome of each held refund that is over, and keeps
// the others' messages alive.
func (l *Link) checkHeld(ctx context.Context, nc *nats.Conn, held map[string]*heldOrder) {
	for key, h := range held {
		done, made, sale, err := l.o.Refunds.Outcome(h.order.Reference, h.order.RefundID)
		if err != nil {
			l.noteErr("refund outcome", err)
			continue
		}
		if !done {
			if time.Since(h.seen) >= queueProgress {
				_ = nc.Publish(h.reply, []byte("+WPI"))
				h.seen = time.Now()
			}
			continue
		}
		res := wire.RefundResult{Key: key, State: wire.RefundCompleted, Sale: sale, At: time.Now().UTC()}
		if !made {
			res.State = wire.RefundRefused
			res.Refusal = &wire.RefundRefusal{Code: "refund_failed",
				Message: "Vipps MobilePay did not make the refund of sale " + h.order.Reference + ": see the sale at its till"}
		}
		if err := publishRefund(ctx, nc, l.o.Till.RefundResultSubject(), wire.RefundResultMsgID(key, res.State), res, l.o.Timeout); err != nil {
			l.noteErr("refund result", err)
			continue
		}
		_ = nc.Publish(h.reply, []byte("+ACK"))
		delete(held, key)
		l.log.Info("refund asked at another till is over", "reference", h.order.Reference, "asker", h.order.Asker.String(), "state", res.State)
	}
}
