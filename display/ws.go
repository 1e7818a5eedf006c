package display

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tillbox/tillbox/display/wsstream"
)

// CloseTooSlow is the WebSocket close code of a display dropped for falling
// behind; the page reconnects.
const CloseTooSlow = 4001

// keepalive is the message a display gets every PingEvery: the page treats a
// connection that brings nothing for three times as long as lost.
var keepalive = []byte(`{"type":"keepalive"}`)

// streamOptions are a display's connection: pinged (and sent a keepalive)
// every PingEvery, every write bounded by WriteWait. The default origin
// check refuses pages of other sites.
func (h *Hub) streamOptions() wsstream.Options {
	return wsstream.Options{
		PingEvery: h.opts.PingEvery,
		PongWait:  2*h.opts.PingEvery + h.opts.WriteWait,
		WriteWait: h.opts.WriteWait,
		ReadLimit: 512,
		Keepalive: keepalive,

		ReadBufferSize:  512,
		WriteBufferSize: 2048,
	}
}

// serveWS upgrades a display's request to a WebSocket and streams its
// till's view: the snapshot, then every change, until either side goes.
func (h *Hub) serveWS(w http.ResponseWriter, r *http.Request) {
	t := h.Till(r.URL.Query().Get("till"))
	if t == nil {
		http.Error(w, "no such till", http.StatusNotFound)
		return
	}
	o := h.streamOptions()
	conn, err := wsstream.Upgrade(w, r, o)
	if err != nil {
		return // the upgrader answered
	}
	snap, sub := t.Subscribe()
	defer sub.Close()
	wsstream.Serve(r.Context(), conn, o, pump(snap, sub))
}

// pump writes the snapshot, then the changes, until the display goes (ctx),
// the hub drops it for falling behind, or the box stops.
func pump(snap []byte, sub *Subscription) wsstream.Step {
	sent := false
	// One timer for the stream, reset at each step (a timer per message
	// cost 3 allocations a message a display: BenchmarkFanout50).
	var t *time.Timer
	return func(ctx context.Context, s *wsstream.Stream, wait time.Duration) error {
		if !sent {
			sent = true
			return s.Write(snap)
		}
		if t == nil {
			t = time.NewTimer(wait)
		} else {
			t.Reset(wait) // since Go 1.23 no stale expiry is left to drain
		}
		select {
		case <-ctx.Done():
			return &wsstream.Close{Code: websocket.CloseGoingAway, Reason: "display closed"}
		case b, ok := <-sub.C():
			if !ok {
				if sub.Dropped() {
					return &wsstream.Close{Code: CloseTooSlow, Reason: "too slow: reconnect"}
				}
				return &wsstream.Close{Code: websocket.CloseGoingAway, Reason: "the box is stopping"}
			}
			return s.Write(b)
		case <-t.C:
			return nil // a ping is due
		}
	}
}
