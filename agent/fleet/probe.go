package fleet

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
)

// Probe is what one connection to headquarters learned, for `tillbox
// doctor`.
type Probe struct {
	Server string        // connected to (no credentials)
	RTT    time.Duration // a round trip to it
	AtHQ   uint64        // the newest event of this till headquarters holds
}

// ProbeHQ connects once with o's servers and credentials (no retry),
// reads what headquarters holds of the till's log, and disconnects. Its
// error says why it could not: refused credentials, a certificate that
// does not chain to the roots, a server that does not answer.
func ProbeHQ(ctx context.Context, o Options) (Probe, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Probe{}, err
	}
	l := &Link{o: o, log: o.Logger, state: newSignal()}
	opts := append(l.natsOptions(make(chan struct{})), nats.RetryOnFailedConnect(false), nats.NoReconnect())
	nc, err := nats.Connect(joinServers(o.Servers), opts...)
	if err != nil {
		return Probe{}, redactErr(err)
	}
	defer nc.Close()
	p := Probe{Server: nc.ConnectedUrlRedacted()}
	if p.RTT, err = nc.RTT(); err != nil {
		return p, redactErr(err)
	}
	p.AtHQ, _, err = lastAtHQ(ctx, nc, o.Till, o.Timeout)
	return p, err
}
