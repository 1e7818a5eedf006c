package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// The box's durable pull consumers, read with plain JetStream API requests.

// ensureConsumer creates (or updates) the durable consumer c, or finds it
// as it is.
func ensureConsumer(ctx context.Context, nc *nats.Conn, c wire.Consumer, cfg consumerConfig, timeout time.Duration) error {
	req, err := json.Marshal(struct {
		Stream string         `json:"stream_name"`
		Config consumerConfig `json:"config"`
	}{c.Stream, cfg})
	if err != nil {
		return err
	}
	var info consumerInfo
	cerr := apiRequest(ctx, nc, &nats.Msg{Subject: c.CreateSubject(), Data: req}, timeout, &info)
	if cerr != nil {
		info = consumerInfo{}
		if err := apiRequest(ctx, nc, &nats.Msg{Subject: c.InfoSubject()}, timeout, &info); err != nil {
			return fmt.Errorf("the durable consumer %s on %s: %w", c.Name, c.Stream, cerr)
		}
	}
	if info.Name != c.Name {
		return fmt.Errorf("asked for the durable consumer %s on %s, got %q", c.Name, c.Stream, info.Name)
	}
	return nil
}

// maxDeliver bounds the deliveries of one message to a durable consumer
// of the box: a message the box fails on that often (NAK'd after each
// failure, a second to RetryMax apart) is given up, with an error in the
// box's log (nak), instead of going round for ever.
const maxDeliver = 500

// durableConfig is the configuration of one of the box's durable
// consumers: the relay's and the refunds'.
func durableConfig(c wire.Consumer, what string, ackWait time.Duration, maxPending int) consumerConfig {
	return consumerConfig{
		Name: c.Name, Durable: c.Name, Description: what, FilterSubject: c.Filter,
		DeliverPolicy: "all", AckPolicy: "explicit", AckWait: int64(ackWait), MaxAckPending: maxPending,
		MaxDeliver: maxDeliver,
	}
}

// nak asks for m again after delay; at its last delivery (maxDeliver) the
// servers will not deliver it again, which the box's log says.
func (l *Link) nak(nc *nats.Conn, m *nats.Msg, delay time.Duration, what string, cause error) {
	if md, err := m.Metadata(); err == nil && md.NumDelivered >= maxDeliver {
		l.log.Error(what+" given up: delivered as often as it may be", "deliveries", md.NumDelivered,
			"subject", m.Subject, "err", cause)
	}
	_ = nc.Publish(m.Reply, []byte(`-NAK {"delay":`+strconv.FormatInt(int64(delay), 10)+`}`))
}

// puller reads a durable consumer (the relay's, the refund queue's, the
// refund statuses'): it pulls into a subscription on its own inbox, asking
// again when a pull is done, expired or lost, and after each reconnect.
// Each pull has its own reply subject, so the server's word on an earlier
// pull (expired, say) does not end the one waiting now. Each message of the
// stream goes to handle; tick, when set, runs every tickEvery and at each
// wake.
type puller struct {
	l         *Link
	nc        *nats.Conn
	c         wire.Consumer
	handle    func(m *nats.Msg) error // an error ends the pull
	wake      func() <-chan struct{}  // nil: none
	tick      func()                  // nil: none
	tickEvery time.Duration
}

func (p *puller) run(ctx context.Context) error {
	nc, c := p.nc, p.c
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
	every := p.tickEvery
	if every <= 0 {
		every = time.Hour
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	var pulls int
	pull, left := "", 0
	for {
		changed := p.l.state.wait()
		var woke <-chan struct{}
		if p.wake != nil {
			woke = p.wake()
		}
		if left == 0 {
			pulls++
			pull, left = inbox+"."+strconv.Itoa(pulls), relayBatch
			if err := nc.PublishRequest(c.NextSubject(), pull, req); err != nil {
				return fmt.Errorf("pulling from %s: %w", c.Name, err)
			}
			quiet.Reset(2 * relayHeartbeat)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			if _, ok := p.l.waitConnected(ctx); !ok {
				return nil
			}
			left = 0 // a pull waiting at the server before may be gone
		case <-quiet.C:
			left = 0
		case <-woke:
			p.runTick()
		case <-ticker.C:
			p.runTick()
		case m := <-msgs:
			done, err := p.onPulled(m, m.Subject == pull)
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

func (p *puller) runTick() {
	if p.tick != nil {
		p.tick()
	}
}

// onPulled handles one message pulled: one of the stream's, or the
// server's word on the pull (ignored unless current: of the pull waiting
// now). done: the pull is over, ask again.
func (p *puller) onPulled(m *nats.Msg, current bool) (done bool, err error) {
	status, desc := statusOf(m), m.Header.Get("Description")
	switch {
	case status == "":
		if strings.HasPrefix(m.Reply, p.c.AckPrefix()) {
			return false, p.handle(m)
		}
		return false, nil
	case !current, status == "100": // an earlier pull's; the idle heartbeat
		return false, nil
	case status == "404" || status == "408": // nothing more, or expired
		return true, nil
	case status == "409" && pullEnded(desc):
		return true, nil
	case status == "503":
		return true, fmt.Errorf("the durable consumer %s on %s does not answer", p.c.Name, p.c.Stream)
	}
	return true, fmt.Errorf("pulling from %s: status %s %s", p.c.Name, status, desc)
}
