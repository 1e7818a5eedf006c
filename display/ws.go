package display

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// CloseTooSlow is the WebSocket close code of a display dropped for falling
// behind; the page reconnects.
const CloseTooSlow = 4001

// keepalive is the message a display gets every PingEvery: the page treats a
// connection that brings nothing for three times as long as lost.
var keepalive = []byte(`{"type":"keepalive"}`)

// serveWS upgrades a display's request to a WebSocket and streams its
// till's view: the snapshot, then every change, until either side goes.
func (h *Hub) serveWS(w http.ResponseWriter, r *http.Request) {
	t := h.Till(r.URL.Query().Get("till"))
	if t == nil {
		http.Error(w, "no such till", http.StatusNotFound)
		return
	}
	// The default origin check refuses pages of other sites.
	up := websocket.Upgrader{HandshakeTimeout: h.opts.WriteWait, ReadBufferSize: 512, WriteBufferSize: 2048}
	conn, err := up.Upgrade(w, r, http.Header{"Cache-Control": {"no-store"}})
	if err != nil {
		return // the upgrader answered
	}
	snap, sub := t.Subscribe()
	defer sub.Close()
	h.stream(r.Context(), conn, snap, sub)
}

// stream owns conn: it writes the display's messages and reads its
// control frames (pongs, close) until either ends, then closes conn.
func (h *Hub) stream(ctx context.Context, conn *websocket.Conn, snap []byte, sub *Subscription) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pongWait := 2*h.opts.PingEvery + h.opts.WriteWait
	conn.SetReadLimit(512)
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel()
		for {
			// A display has nothing to say; whatever it sends is dropped.
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()

	code, text := h.pump(ctx, conn, snap, sub)
	if code != 0 {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(h.opts.WriteWait))
		t := time.NewTimer(h.opts.WriteWait)
		select {
		case <-readDone:
		case <-t.C:
		}
		t.Stop()
	}
	conn.Close()
	<-readDone
}

// pump writes the snapshot, then the changes and keepalives. It returns
// the close code and text to send, or 0 when the connection is gone.
func (h *Hub) pump(ctx context.Context, conn *websocket.Conn, snap []byte, sub *Subscription) (int, string) {
	write := func(b []byte) error {
		_ = conn.SetWriteDeadline(time.Now().Add(h.opts.WriteWait))
		return conn.WriteMessage(websocket.TextMessage, b)
	}
	if err := write(snap); err != nil {
		return 0, ""
	}
	ping := time.NewTicker(h.opts.PingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return websocket.CloseGoingAway, "display closed"
		case b, ok := <-sub.C():
			if !ok {
				if sub.Dropped() {
					return CloseTooSlow, "too slow: reconnect"
				}
				return websocket.CloseGoingAway, "the box is stopping"
			}
			if err := write(b); err != nil {
				return 0, ""
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.opts.WriteWait)); err != nil {
				return 0, ""
			}
			if err := write(keepalive); err != nil {
				return 0, ""
			}
		}
	}
}
