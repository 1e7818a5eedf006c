package fleet

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// heartbeatLoop publishes a heartbeat at each connect and every
// Options.Heartbeat while connected (a plain publish: headquarters'
// heartbeat stream keeps the last of each box).
func (l *Link) heartbeatLoop(ctx context.Context, nc *nats.Conn) {
	t := time.NewTicker(l.o.Heartbeat)
	defer t.Stop()
	var sentIn uint64 // the epoch of the last heartbeat sent
	for {
		changed := l.state.wait()
		l.mu.Lock()
		up, epoch := l.connected, l.epoch
		l.mu.Unlock()
		if up && epoch != sentIn {
			l.beat(nc) // at once on each (re)connect
			sentIn = epoch
		}
		select {
		case <-t.C:
			if up {
				l.beat(nc)
			}
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// beat publishes one heartbeat.
func (l *Link) beat(nc *nats.Conn) {
	if err := nc.Publish(l.o.Till.HeartbeatSubject(), l.heartbeat().Marshal()); err != nil {
		l.noteErr("heartbeat", err)
	}
}

// heartbeat is what the box says of itself now.
func (l *Link) heartbeat() wire.Heartbeat {
	var h wire.Heartbeat
	if l.o.Describe != nil {
		h = l.o.Describe()
	}
	h.Till, h.At = l.o.Till, time.Now().UTC()
	_ = l.db.View(func(tx *store.Tx) error {
		h.LastSeq = tx.LastSeq()
		return nil
	})
	l.mu.Lock()
	h.Shipped = l.shipped
	if h.LastError == "" && l.lastErr != "" {
		h.LastError = l.lastErr
	}
	l.mu.Unlock()
	return h
}
