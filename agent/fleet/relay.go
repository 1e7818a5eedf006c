package fleet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// relayConsumer is the box's durable consumer on the relay stream.
func relayConsumer(t wire.Till) consumerConfig {
	return consumerConfig{
		Name:          t.RelayConsumer(),
		Durable:       t.RelayConsumer(),
		Description:   "tillbox " + t.String() + ": its relayed webhooks",
		FilterSubject: t.RelaySubject(),
		DeliverPolicy: "all",
		AckPolicy:     "explicit",
		AckWait:       int64(relayAckWait),
		MaxAckPending: 64,
	}
}

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
// makes sure of its durable consumer, then pulls from it into a
// subscription on its own inbox, asking again when a pull is done,
// expired or lost, and after each reconnect. Each pull has its own reply
// subject, so the server's word on an earlier pull (expired, say) does not
// end the one waiting now.
func (l *Link) relay(ctx context.Context, nc *nats.Conn) error {
	t := l.o.Till
	if err := ensureRelayConsumer(ctx, nc, t, l.o.Timeout); err != nil {
		return err
	}
	inbox := nc.NewInbox()
	msgs := make(chan *nats.Msg, 4*relayBatch)
	sub, err := nc.ChanSubscribe(inbox+".*", msgs)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	req := fmt.Appendf(nil, `{"batch":%d,"expires":%d,"idle_heartbeat":%d}`, relayBatch, relayExpires, relayHeartbeat)
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	var pulls int
	pull, left := "", 0 // the pull waiting at the server, and what it may still bring
	for {
		changed := l.state.wait()
		if left == 0 {
			pulls++
			pull, left = inbox+"."+strconv.Itoa(pulls), relayBatch
			if err := nc.PublishRequest(t.RelayNextSubject(), pull, req); err != nil {
				return fmt.Errorf("asking for relayed webhooks: %w", err)
			}
			quiet.Reset(2 * relayHeartbeat)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			if _, ok := l.waitConnected(ctx); !ok {
				return nil
			}
			left = 0 // a pull waiting at the server before may be gone
		case <-quiet.C:
			left = 0
		case m := <-msgs:
			done, err := l.onPulled(ctx, nc, m, m.Subject == pull)
			if err != nil {
				return err
			}
			if m.Subject != pull {
				continue
			}
			quiet.Reset(2 * relayHeartbeat)
			if statusOf(m) == "" {
				left--
			}
			if done {
				left = 0
			}
		}
	}
}

// onPulled handles one message pulled: a relayed webhook, or the server's
// word on the pull (ignored unless current: of the pull waiting now).
// done: the pull is over, ask again.
func (l *Link) onPulled(ctx context.Context, nc *nats.Conn, m *nats.Msg, current bool) (done bool, err error) {
	status, desc := statusOf(m), m.Header.Get("Description")
	switch {
	case status == "":
		if strings.HasPrefix(m.Reply, l.o.Till.RelayAckPrefix()) {
			l.handleRelayed(ctx, nc, m)
		}
		return false, nil
	case !current, status == "100": // an earlier pull's; the idle heartbeat
		return false, nil
	case status == "404" || status == "408": // nothing more, or expired
		return true, nil
	case status == "409" && pullEnded(desc):
		return true, nil
	case status == "503":
		return true, fmt.Errorf("the durable consumer %s on %s does not answer", l.o.Till.RelayConsumer(), wire.RelayStream)
	}
	return true, fmt.Errorf("pulling relayed webhooks: status %s %s", status, desc)
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
		nak := `-NAK {"delay":` + strconv.FormatInt(int64(l.o.RetryMax), 10) + `}`
		_ = nc.Publish(m.Reply, []byte(nak))
	}
}
