package fleet

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// The relay: headquarters verifies each Vipps MobilePay webhook and
// publishes it to the relay subject of the till whose reference it names;
// the box reads its own subject through its durable consumer, hands each
// body to Options.Relay and acknowledges it after. A webhook only shortens
// the wait for a sale's outcome (polling stays the authority), so a
// duplicate or a late one is harmless.

const (
	// relayAckWait is how long headquarters' server waits for an
	// acknowledgement before it delivers a message again.
	relayAckWait = 30 * time.Second
	// relayBatch is how many messages one pull asks for; a pull waits at
	// the server up to relayExpires for them, the server saying it is
	// still there every relayHeartbeat (two missed: the pull is lost, the
	// box asks again).
	relayBatch     = 16
	relayExpires   = 30 * time.Second
	relayHeartbeat = 5 * time.Second
)

// relayLoop reads the relay for as long as ctx lasts, starting again after
// each error.
func (l *Link) relayLoop(ctx context.Context, nc *nats.Conn) {
	for fails := 0; ; {
		if _, ok := l.waitConnected(ctx); !ok {
			return
		}
		err := l.relay(ctx, nc)
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

// relay takes the relayed webhooks until ctx ends or reading fails: it
// makes sure of its durable consumer, then pulls from it (puller).
func (l *Link) relay(ctx context.Context, nc *nats.Conn) error {
	t := l.o.Till
	c := wire.Consumer{Stream: wire.RelayStream, Name: t.RelayConsumer(), Filter: t.RelaySubject()}
	cfg := durableConfig(c, "tillbox "+t.String()+": its relayed webhooks", relayAckWait, 64)
	if err := ensureConsumer(ctx, nc, c, cfg, l.o.Timeout); err != nil {
		return err
	}
	p := &puller{l: l, nc: nc, c: c, handle: func(m *nats.Msg) error { l.handleRelayed(ctx, nc, m); return nil }}
	return p.run(ctx)
}

// statusOf is the status of a message the server sends about a pull
// (no data, a status header); "" for a message of the stream.
func statusOf(m *nats.Msg) string {
	if len(m.Data) > 0 {
		return ""
	}
	return m.Header.Get("Status")
}

// pullEnded reports whether a 409 status only ends the pull (ask again)
// rather than saying something is wrong with the consumer.
func pullEnded(desc string) bool {
	desc = strings.ToLower(desc)
	for _, s := range []string{"leadership change", "server shutdown", "batch completed"} {
		if strings.Contains(desc, s) {
			return true
		}
	}
	return false
}

// handleRelayed applies one relayed webhook and acknowledges it.
func (l *Link) handleRelayed(ctx context.Context, nc *nats.Conn, m *nats.Msg) {
	err := l.o.Relay(ctx, m.Data)
	switch {
	case err == nil:
		if aerr := nc.Publish(m.Reply, []byte("+ACK")); aerr != nil {
			l.noteErr("relay ack", aerr) // delivered again: harmless
		}
		l.mu.Lock()
		l.relayed++
		l.mu.Unlock()
	case errors.Is(err, ErrRejected):
		l.log.Warn("relayed webhook dropped", "err", err)
		_ = nc.Publish(m.Reply, []byte("+TERM"))
	default:
		l.noteErr("relayed webhook", err)
		l.nak(nc, m, l.o.RetryMax, "relayed webhook", err)
	}
}
