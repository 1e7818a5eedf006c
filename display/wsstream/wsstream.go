// Package wsstream streams messages to a WebSocket client (gorilla/websocket)
// for the endpoints where the box talks and the client listens: the customer
// display's views and the POS API's events. It does the upgrade with the
// caller's checks, a ping every PingEvery, a deadline on every write, the read
// loop that takes the client's pongs and close, and the close with a code and
// a reason; the caller's [Step] says what to send.
package wsstream

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// Options configure a stream and its upgrade.
type Options struct {
	// PingEvery is how often the client is pinged (and sent Keepalive).
	// Default 15 s.
	PingEvery time.Duration
	// PongWait is how long the client may stay silent (no pong, no
	// message) before it is dropped. Default 2×PingEvery + WriteWait.
	PongWait time.Duration
	// WriteWait bounds the handshake, each write, and the wait for the
	// client's answer to the close. Default 10 s.
	WriteWait time.Duration
	// ReadLimit is the largest message the client may send (whatever it
	// sends is dropped). Default 512 bytes.
	ReadLimit int64
	// Keepalive, when set, is a text message sent after every ping, for
	// clients (browsers) that cannot see pings.
	Keepalive []byte

	// ReadBufferSize and WriteBufferSize are the upgrader's (0: its
	// defaults).
	ReadBufferSize, WriteBufferSize int
	// CheckOrigin decides whether the handshake's Origin is allowed; nil
	// refuses pages of other sites (an Origin whose host is not Host).
	CheckOrigin func(r *http.Request) bool
	// Error answers a failed handshake; nil answers with http.Error.
	Error func(w http.ResponseWriter, r *http.Request, status int, reason error)
}

func (o Options) withDefaults() Options {
	if o.PingEvery <= 0 {
		o.PingEvery = 15 * time.Second
	}
	if o.WriteWait <= 0 {
		o.WriteWait = 10 * time.Second
	}
	if o.PongWait <= 0 {
		o.PongWait = 2*o.PingEvery + o.WriteWait
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 512
	}
	return o
}

// Upgrade turns the request into a WebSocket connection, answered with
// Cache-Control: no-store. On error the handshake has been answered (by
// o.Error).
func Upgrade(w http.ResponseWriter, r *http.Request, o Options) (*websocket.Conn, error) {
	o = o.withDefaults()
	up := websocket.Upgrader{
		HandshakeTimeout: o.WriteWait,
		ReadBufferSize:   o.ReadBufferSize,
		WriteBufferSize:  o.WriteBufferSize,
		CheckOrigin:      o.CheckOrigin,
		Error:            o.Error,
	}
	return up.Upgrade(w, r, http.Header{"Cache-Control": {"no-store"}})
}

// Close is the error a Step returns to end the stream with a close message
// of Code and Reason (websocket.CloseGoingAway, or a code of the
// endpoint's own, 4000–4999).
type Close struct {
	Code   int
	Reason string
}

func (c *Close) Error() string {
	return "websocket close " + strconv.Itoa(c.Code) + ": " + c.Reason
}

// Stream is the writing side of a connection being served.
type Stream struct {
	conn *websocket.Conn
	o    Options
}

// Write sends b as a text message.
func (s *Stream) Write(b []byte) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.o.WriteWait))
	return s.conn.WriteMessage(websocket.TextMessage, b)
}

// WriteJSON sends v as a text message of JSON (with a final newline).
func (s *Stream) WriteJSON(v any) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.o.WriteWait))
	return s.conn.WriteJSON(v)
}

// A Step writes what there is to send, waiting at most wait (the time until
// the next ping is due) for something to come. It returns nil to be called
// again, a *[Close] to end the stream with a close message, or the error of
// a write (the client is gone: the connection is closed without one). When
// ctx ends (the client closed, or the server stops) it must return a *Close.
type Step func(ctx context.Context, s *Stream, wait time.Duration) error

// Serve owns conn: it calls step until it ends the stream, pinging the
// client every o.PingEvery, and reads the client's pongs and close (ctx,
// as step sees it, ends when the client goes); then it closes conn with the
// step's code and reason, waits briefly for the client's answer, and
// returns once its reading has stopped.
func Serve(ctx context.Context, conn *websocket.Conn, o Options, step Step) {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	conn.SetReadLimit(o.ReadLimit)
	_ = conn.SetReadDeadline(time.Now().Add(o.PongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(o.PongWait)) })
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel()
		for {
			// The client has nothing to say; whatever it sends is dropped.
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()

	if c := pump(ctx, &Stream{conn: conn, o: o}, step); c != nil {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.Code, c.Reason), time.Now().Add(o.WriteWait))
		// Wait for the client to answer the close, briefly.
		t := time.NewTimer(o.WriteWait)
		select {
		case <-readDone:
		case <-t.C:
		}
		t.Stop()
	}
	conn.Close()
	<-readDone
}

// pump calls step and pings when due. It returns the close to send, or nil
// when the connection is gone.
func pump(ctx context.Context, s *Stream, step Step) *Close {
	lastPing := time.Now()
	for {
		if err := step(ctx, s, max(0, s.o.PingEvery-time.Since(lastPing))); err != nil {
			var c *Close
			if errors.As(err, &c) {
				return c
			}
			return nil
		}
		if time.Since(lastPing) < s.o.PingEvery {
			continue
		}
		if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.o.WriteWait)); err != nil {
			return nil
		}
		lastPing = time.Now()
		if s.o.Keepalive != nil {
			if err := s.Write(s.o.Keepalive); err != nil {
				return nil
			}
		}
	}
}
