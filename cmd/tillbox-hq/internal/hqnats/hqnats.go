// Package hqnats is headquarters' side of NATS: the connection (with its
// credentials and TLS roots) and the streams headquarters creates and keeps
// up to date — boxes never create or change one.
package hqnats

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
)

// Connect dials the NATS servers of c. It returns at once when none
// answers yet and keeps trying in the background (as after any
// disconnect); the log says when the link comes and goes.
func Connect(c *hqconfig.NATS, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("tillbox-hq"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.Timeout(5 * time.Second),
		nats.ConnectHandler(func(nc *nats.Conn) { log.Info("NATS connected", "server", nc.ConnectedUrlRedacted()) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted()) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("NATS error", "err", err, "subject", subject)
		}),
	}
	switch {
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password.Reveal()))
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	servers := ""
	for i, s := range c.Servers {
		if i > 0 {
			servers += ","
		}
		servers += s
	}
	nc, err := nats.Connect(servers, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	return nc, nil
}

// Streams are the settings of the streams headquarters keeps.
type Streams struct {
	Chain         string
	Replicas      int
	JournalMaxAge time.Duration
	RelayMaxAge   time.Duration
}

// StreamsOf is the streams' settings of a configuration.
func StreamsOf(c *hqconfig.Config) Streams {
	return Streams{Chain: c.HQ.Chain, Replicas: c.NATS.Replicas,
		JournalMaxAge: c.NATS.JournalMaxAge.D(), RelayMaxAge: c.NATS.RelayMaxAge.D()}
}

// RelayDuplicates is how long the relay stream remembers a webhook's id:
// a Vipps MobilePay retry within it is not stored twice (a later one is,
// and the box takes it as the duplicate it is).
const RelayDuplicates = 10 * time.Minute

// Configs are the stream configurations of s.
func (s Streams) Configs() []jetstream.StreamConfig {
	prefix := "tillbox." + s.Chain + "."
	return []jetstream.StreamConfig{{
		Name:        wire.JournalStream,
		Description: "every box's event log, one message per event",
		Subjects:    []string{prefix + "journal.>"},
		Retention:   jetstream.LimitsPolicy,
		// Only age removes an event: never a limit of count or size, so no
		// event is dropped before headquarters has it.
		MaxAge:      s.JournalMaxAge,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Discard:     jetstream.DiscardNew,
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		Duplicates:  2 * time.Minute,
		AllowDirect: true,
	}, {
		Name:              wire.HeartbeatStream,
		Description:       "the last heartbeat of each box",
		Subjects:          []string{prefix + "heartbeat.>"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		Storage:           jetstream.FileStorage,
		Replicas:          s.Replicas,
		AllowDirect:       true,
	}, {
		Name:        wire.RelayStream,
		Description: "Vipps MobilePay webhooks for the boxes",
		Subjects:    []string{prefix + "relay.>"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      s.RelayMaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		Duplicates:  RelayDuplicates,
	}}
}

// EnsureStreams creates the streams and the settings bucket, or updates
// them to s.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, s Streams) error {
	for _, cfg := range s.Configs() {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	return EnsureConfigBucket(ctx, js, s) // issue 14: the layered settings
}
