package posapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tillbox/tillbox/agent"
)

// dial opens the event stream after the given position ("" for none) and
// checks the handshake's answer against the document. hdr adds headers; an
// "Authorization" of "" in it sends none (else the rig's token is sent).
// conn is nil when the handshake failed; body is the failure's body.
func (r *rig) dial(t testing.TB, after string, hdr http.Header) (*websocket.Conn, *http.Response, []byte) {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + r.token.Reveal()}}
	for k, v := range hdr {
		h[k] = v
	}
	malformed := strings.Trim(after, "0123456789") != ""
	if h.Get("Authorization") == "" {
		h.Del("Authorization")
		malformed = true
	}
	query := ""
	if after != "" {
		query = "?after=" + after
	}
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(r.url, "http")+"/api/v1/events/ws"+query, h)
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	var body []byte
	if resp.Body != nil {
		body, _ = io.ReadAll(resp.Body)
	}
	ctx := context.Background()
	if malformed {
		ctx = withMalformed(ctx)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/api/v1/events/ws"+query, nil)
	req.Header = h.Clone()
	r.spec.validateHandshake(t, req, resp, body)
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, body
}

// readEvent reads one message, checks it against the Event schema and
// decodes it.
func (r *rig) readEvent(t testing.TB, conn *websocket.Conn) (agent.Event, []byte) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	typ, msg, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("message of type %d, want text", typ)
	}
	r.spec.validateEvent(t, msg)
	var ev agent.Event
	if err := json.Unmarshal(msg, &ev); err != nil {
		t.Fatal(err)
	}
	return ev, msg
}

// TestWebSocketStream: the stream delivers every event of a sale in order as
// it happens, and a POS that reconnects after seq k gets exactly what
// followed k.
func TestWebSocketStream(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	conn, resp, _ := r.dial(t, "0", nil)
	if resp.StatusCode != http.StatusSwitchingProtocols || conn == nil {
		t.Fatalf("handshake: %d", resp.StatusCode)
	}
	if _, _, err := r.client.CreateSale(ctx, sale("ws-00000001", 49900)); err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	var states []agent.State
	for {
		ev, msg := r.readEvent(t, conn)
		if ev.Seq != uint64(len(msgs)+1) {
			t.Fatalf("event %d after %d events", ev.Seq, len(msgs))
		}
		msgs = append(msgs, msg)
		states = append(states, ev.State)
		if ev.Sale.Outcome {
			break
		}
	}
	if states[0] != agent.Queued || states[len(states)-1] != agent.Completed || len(msgs) < 3 {
		t.Fatalf("states %v", states)
	}
	conn.Close()

	// Resume after the second event.
	conn2, _, _ := r.dial(t, "2", nil)
	for i := 2; i < len(msgs); i++ {
		_, msg := r.readEvent(t, conn2)
		if !bytes.Equal(msg, msgs[i]) {
			t.Fatalf("after 2, message %d:\n%s\nwant\n%s", i+1, msg, msgs[i])
		}
	}

	// The typed client sees the same.
	var seqs []uint64
	errEnough := errors.New("enough")
	err := r.client.StreamEvents(ctx, 1, func(ev agent.Event) error {
		seqs = append(seqs, ev.Seq)
		if len(seqs) == len(msgs)-1 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) || seqs[0] != 2 || seqs[len(seqs)-1] != uint64(len(msgs)) {
		t.Errorf("StreamEvents: %v %v", err, seqs)
	}
	// It returns nil when its context ends.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := r.client.StreamEvents(cctx, uint64(len(msgs)), func(agent.Event) error { return nil }); err != nil {
		t.Errorf("StreamEvents to the end of its context: %v", err)
	}
}

// TestWebSocketKeepalive: the server pings an idle stream, keeps a POS that
// answers, and drops one that does not.
func TestWebSocketKeepalive(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true, server: func(s *server) {
		s.pingEvery, s.pongWait, s.writeWait = 50*time.Millisecond, 300*time.Millisecond, time.Second
	}})
	alive, _, _ := r.dial(t, "0", nil)
	var pings atomic.Int32
	alive.SetPingHandler(func(data string) error {
		pings.Add(1)
		return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	aliveErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := alive.ReadMessage(); err != nil {
				aliveErr <- err
				return
			}
		}
	}()

	deaf, _, _ := r.dial(t, "0", nil) // never reads, so never answers a ping
	time.Sleep(800 * time.Millisecond)
	if n := pings.Load(); n < 5 {
		t.Errorf("%d pings in 800 ms, want one every 50 ms", n)
	}
	select {
	case err := <-aliveErr:
		t.Fatalf("a POS that answers pings was dropped: %v", err)
	default:
	}
	// Reading now handles the pings that waited and then finds the
	// connection closed, long before the deadline.
	_ = deaf.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := deaf.ReadMessage()
	var ne interface{ Timeout() bool }
	switch {
	case err == nil:
		t.Fatal("a message on an empty log")
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatal("a POS that does not answer pings was kept")
	}
	alive.Close()
}

// TestWebSocketShutdown: the stream ends with 1001 when the server's base
// context ends.
func TestWebSocketShutdown(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	conn, _, _ := r.dial(t, "", nil)
	time.Sleep(50 * time.Millisecond)
	r.stopStreams()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := conn.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("after shutdown: %v, want close 1001", err)
	}
}

// TestWebSocketHandshakeErrors: the errors before the upgrade are the API's
// JSON errors.
func TestWebSocketHandshakeErrors(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	for _, c := range []struct {
		name   string
		after  string
		hdr    http.Header
		status int
		code   string
	}{
		{"no token", "0", http.Header{"Authorization": {""}}, 401, codeUnauthorized},
		{"wrong token", "0", http.Header{"Authorization": {"Bearer " + sentTokens[0]}}, 401, codeUnauthorized},
		{"another origin", "0", http.Header{"Origin": {"http://evil.example"}}, 403, codeForbidden},
		{"bad after", "x", nil, 400, codeInvalidRequest},
	} {
		conn, resp, body := r.dial(t, c.after, c.hdr)
		var e apiError
		_ = json.Unmarshal(body, &e)
		if conn != nil || resp.StatusCode != c.status || e.Code != c.code {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, body)
		}
	}
	// Not a WebSocket handshake at all.
	a := r.send(call{method: "GET", path: "/api/v1/events/ws"})
	if e := a.error(t); a.status != http.StatusBadRequest || !strings.Contains(e.Message, "websocket") {
		t.Errorf("plain GET: %d %+v", a.status, e)
	}
}
