package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Refund anywhere in the chain (docs/chain.md): this box asks headquarters
// for refunds of other tills' sales ([Link.RefundElsewhere]) and hears
// what came of them on its status consumer; it takes the refunds other
// tills asked for its own sales from its queue consumer (refund_owner.go).

// RefundHooks connect the link to the box's agent for refunds.
type RefundHooks struct {
	// Apply refunds the box's sale ref as a local refund of amount (0:
	// all that is left) with refund id id: the same id refunds once. It
	// returns the sale as the POS API shows it (JSON), or the refusal of
	// a refund that cannot be made; an error is a failure to try again.
	Apply func(ctx context.Context, ref string, amount int64, id string) (sale []byte, refusal *wire.RefundRefusal, err error)
	// Outcome says whether refund id of ref is over (no command of the
	// sale left to send), whether Vipps MobilePay made it, and the sale
	// as the POS API shows it.
	Outcome func(ref, id string) (done, made bool, sale []byte, err error)
	// Status records a status of one of this box's requests for the POS
	// (an event of its log), once per key and step however often it is
	// delivered. nil: the box asks for no refunds elsewhere.
	Status func(st wire.RefundStatus) error
	// Changed, when set, is closed at the box's next event (the owner
	// looks at its queued refunds then).
	Changed func() <-chan struct{}
}

// ErrHQUnreachable means the box is not connected to headquarters now: a
// refund of another till's sale cannot be asked for.
var ErrHQUnreachable = errors.New("headquarters is not connected: a sale of another till cannot be refunded now")

// ErrNoAnswer means headquarters took the request, or may have (its
// acknowledgement did not come), but did not answer it in time; a request
// taken stays queued there, and its statuses come as events.
var ErrNoAnswer = errors.New("headquarters has not answered the refund yet")

// refunds is the link's state for refunds: the connection the status
// consumer runs on, and the requests waiting for their first status.
type refunds struct {
	mu      sync.Mutex
	nc      *nats.Conn
	waiters map[string][]chan wire.RefundStatus
}

func (r *refunds) setConn(nc *nats.Conn) {
	r.mu.Lock()
	r.nc = nc
	r.mu.Unlock()
}

func (r *refunds) conn() *nats.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nc
}

func (r *refunds) wait(key string) (chan wire.RefundStatus, func()) {
	ch := make(chan wire.RefundStatus, 8)
	r.mu.Lock()
	if r.waiters == nil {
		r.waiters = map[string][]chan wire.RefundStatus{}
	}
	r.waiters[key] = append(r.waiters[key], ch)
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		ws := r.waiters[key]
		for i, w := range ws {
			if w == ch {
				r.waiters[key] = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(r.waiters[key]) == 0 {
			delete(r.waiters, key)
		}
	}
}

func (r *refunds) tell(st wire.RefundStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ch := range r.waiters[st.Key] {
		select {
		case ch <- st:
		default:
		}
	}
}

// RefundElsewhere asks headquarters to refund amount (0: all that is
// left) of sale ref, which another till took, as refund id (the same id
// for the same reference refunds once, however often it is asked), and
// waits up to wait for headquarters' word: a refusal (the status's
// Refusal), or the refund queued for the sale's till (while that till is
// offline; an online till's word is awaited) or further along.
// [ErrHQUnreachable]: not asked (no connection, nothing listening, or
// JetStream refused it). [ErrNoAnswer]: asked, or maybe asked (its
// acknowledgement did not come), and no answer yet.
func (l *Link) RefundElsewhere(ctx context.Context, ref string, amount int64, refundID string, wait time.Duration) (wire.RefundStatus, error) {
	if l.o.Refunds == nil || l.o.Refunds.Status == nil {
		return wire.RefundStatus{}, ErrHQUnreachable
	}
	nc := l.refunds.conn()
	if nc == nil || !nc.IsConnected() {
		return wire.RefundStatus{}, ErrHQUnreachable
	}
	t := l.o.Till
	key := wire.RefundKey(t, ref, refundID)
	ch, done := l.refunds.wait(key)
	defer done()
	req := wire.RefundRequest{Reference: ref, Amount: amount, RefundID: refundID, At: time.Now().UTC()}
	// No message id: a repeat is a question again, which headquarters
	// answers with the request as it stands.
	if err := publishRefund(ctx, nc, t.RefundRequestSubject(), "", req, l.o.Timeout); err != nil {
		l.noteErr("refund request", err)
		if notAsked(err) {
			return wire.RefundStatus{}, fmt.Errorf("%w: %w", ErrHQUnreachable, redactErr(err))
		}
		// The request may be stored (its acknowledgement lost, say): it
		// may have been asked.
		return wire.RefundStatus{Key: key, Reference: ref, RefundID: refundID, Amount: amount}, fmt.Errorf("%w: %w", ErrNoAnswer, redactErr(err))
	}
	l.log.Info("refund of another till's sale asked at headquarters", "reference", ref, "refundId", refundID, "amount", amount)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var queued *wire.RefundStatus
	for {
		select {
		case st := <-ch:
			if st.State != wire.RefundQueued || !st.OwnerOnline {
				return st, nil
			}
			queued = &st // the owner is online: its word should follow
		case <-timer.C:
			if queued != nil {
				return *queued, nil
			}
			return wire.RefundStatus{Key: key, Reference: ref, RefundID: refundID, Amount: amount}, ErrNoAnswer
		case <-ctx.Done():
			return wire.RefundStatus{}, ctx.Err()
		}
	}
}

// notAsked reports whether a request's publish certainly stored nothing:
// no connection, no stream listening on the subject, or JetStream's
// refusal.
func notAsked(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) || errors.Is(err, errNoJetStream) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrConnectionDraining) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrInvalidConnection)
}

// refundLoops runs the refund consumers of one connection.
func (l *Link) refundLoops(ctx context.Context, nc *nats.Conn) {
	h := l.o.Refunds
	var wg sync.WaitGroup
	if h.Status != nil {
		l.refunds.setConn(nc)
		defer l.refunds.setConn(nil)
		wg.Go(func() {
			l.retryLoop(ctx, "refund statuses", func(ctx context.Context) error { return l.readStatuses(ctx, nc) })
		})
	}
	if h.Apply != nil && h.Outcome != nil {
		wg.Go(func() {
			l.retryLoop(ctx, "refund queue", func(ctx context.Context) error { return l.readQueue(ctx, nc) })
		})
	}
	wg.Wait()
}

// retryLoop runs f while connected, again after each error, until ctx
// ends.
func (l *Link) retryLoop(ctx context.Context, what string, f func(context.Context) error) {
	for fails := 0; ; {
		if _, ok := l.waitConnected(ctx); !ok {
			return
		}
		err := f(ctx)
		if ctx.Err() != nil {
			return
		}
		l.noteErr(what, err)
		fails++
		if !sleep(ctx, backoff(l.o.RetryMin, l.o.RetryMax, fails)) {
			return
		}
	}
}

// readStatuses takes headquarters' statuses of this box's requests: each
// is recorded for the POS (once per step) and told to a waiting request,
// then acknowledged.
func (l *Link) readStatuses(ctx context.Context, nc *nats.Conn) error {
	c := l.o.Till.RefundStatusConsumer()
	cfg := durableConfig(c, "tillbox "+l.o.Till.String()+": what came of its refunds of other tills' sales", relayAckWait, 64)
	if err := ensureConsumer(ctx, nc, c, cfg, l.o.Timeout); err != nil {
		return err
	}
	p := &puller{l: l, nc: nc, c: c, handle: func(m *nats.Msg) error {
		var st wire.RefundStatus
		if err := json.Unmarshal(m.Data, &st); err != nil || st.Key == "" {
			l.log.Warn("refund status dropped: not a status", "subject", m.Subject)
			return nc.Publish(m.Reply, []byte("+TERM"))
		}
		if st.Step > 0 {
			err := l.o.Refunds.Status(st)
			switch {
			case errors.Is(err, ErrRejected): // no later delivery will do
				l.log.Warn("refund status dropped", "refundId", st.RefundID, "reference", st.Reference, "err", err)
				return nc.Publish(m.Reply, []byte("+TERM"))
			case err != nil:
				l.noteErr("refund status", err)
				l.nak(nc, m, time.Second, "refund status", err)
				return nil
			}
		}
		l.refunds.tell(st)
		return nc.Publish(m.Reply, []byte("+ACK"))
	}}
	return p.run(ctx)
}
