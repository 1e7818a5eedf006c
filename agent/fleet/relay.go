package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// The relay: headquarters verifies each Vipps MobilePay webhook and
// publishes it to the relay subject of the till whose reference it names;
// the box reads its own subject through its durable consumer, hands each
// body to Options.Relay and acknowledges it after. A webhook only shortens
// the wait for a sale's outcome (polling stays the authority), so a
// duplicate or a late one is harmless.

// relayAckWait is how long headquarters' server waits for an
// acknowledgement before it delivers a message again.
const relayAckWait = 30 * time.Second

// relayConsumer is the box's durable consumer on the relay stream.
func relayConsumer(t wire.Till) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Name:          t.RelayConsumer(),
		Durable:       t.RelayConsumer(),
		Description:   "tillbox " + t.String() + ": its relayed webhooks",
		FilterSubject: t.RelaySubject(),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       relayAckWait,
		MaxAckPending: 64,
	}
}

// relayLoop reads the relay for as long as ctx lasts, starting again after
// each error.
func (l *Link) relayLoop(ctx context.Context, js jetstream.JetStream) {
	for fails := 0; ; {
		if _, ok := l.waitConnected(ctx); !ok {
			return
		}
		err := l.relay(ctx, js)
		if ctx.Err() != nil {
			return
		}
		l.noteErr("relay", err)
		fails++
		if !sleep(ctx, backoff(l.o.RetryMin, l.o.RetryMax, fails)) {
			return
		}
	}
}

// relay takes the relayed webhooks until ctx ends or reading fails.
func (l *Link) relay(ctx context.Context, js jetstream.JetStream) error {
	t := l.o.Till
	cctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
	cons, err := js.CreateOrUpdateConsumer(cctx, wire.RelayStream, relayConsumer(t))
	if err != nil {
		// Headquarters may have made it with settings of its own.
		var lerr error
		if cons, lerr = js.Consumer(cctx, wire.RelayStream, t.RelayConsumer()); lerr != nil {
			cancel()
			return fmt.Errorf("the durable consumer %s on %s: %w", t.RelayConsumer(), wire.RelayStream, err)
		}
	}
	cancel()
	it, err := cons.Messages(jetstream.PullMaxMessages(16))
	if err != nil {
		return err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
				return nil
			}
			return err
		}
		l.handleRelayed(ctx, msg)
	}
}

// handleRelayed applies one relayed webhook and acknowledges it.
func (l *Link) handleRelayed(ctx context.Context, msg jetstream.Msg) {
	err := l.o.Relay(ctx, msg.Data())
	switch {
	case err == nil:
		if aerr := msg.Ack(); aerr != nil {
			l.noteErr("relay ack", aerr) // delivered again: harmless
		}
		l.mu.Lock()
		l.relayed++
		l.mu.Unlock()
	case errors.Is(err, ErrRejected):
		l.log.Warn("relayed webhook dropped", "err", err)
		_ = msg.Term()
	default:
		l.noteErr("relayed webhook", err)
		_ = msg.NakWithDelay(l.o.RetryMax)
	}
}
