package wsstream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// serve is a server streaming with o and step; it returns the ws:// URL and
// a channel closed when Serve has returned.
func serve(t *testing.T, o Options, step Step) (string, <-chan struct{}) {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := Upgrade(w, r, o)
		if err != nil {
			return
		}
		defer close(done)
		Serve(r.Context(), conn, o, step)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), done
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wait(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: Serve did not return within 5 s", what)
	}
}

// TestMessagesThenClose: the step's messages arrive in order, then its
// Close with its code and reason.
func TestMessagesThenClose(t *testing.T) {
	n := 0
	url, done := serve(t, Options{PingEvery: time.Minute}, func(ctx context.Context, s *Stream, wait time.Duration) error {
		n++
		switch n {
		case 1:
			return s.Write([]byte("one"))
		case 2:
			return s.WriteJSON(map[string]int{"two": 2})
		}
		return &Close{Code: 4123, Reason: "done here"}
	})
	c := dial(t, url)
	for _, want := range []string{"one", "{\"two\":2}\n"} {
		typ, b, err := c.ReadMessage()
		if err != nil || typ != websocket.TextMessage || string(b) != want {
			t.Fatalf("read %d %q %v, want text %q", typ, b, err, want)
		}
	}
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4123 || ce.Text != "done here" {
		t.Fatalf("read after the messages: %v, want close 4123 done here", err)
	}
	wait(t, done, "after the close")
}

// TestPingsAndKeepalive: a client that reads gets a ping and the keepalive
// every PingEvery, and the step is asked to wait no longer than the next
// ping.
func TestPingsAndKeepalive(t *testing.T) {
	const every = 30 * time.Millisecond
	var tooLong atomic.Bool
	url, _ := serve(t, Options{PingEvery: every, Keepalive: []byte("ka")}, func(ctx context.Context, s *Stream, wait time.Duration) error {
		if wait > every {
			tooLong.Store(true)
		}
		select {
		case <-ctx.Done():
			return &Close{Code: websocket.CloseGoingAway, Reason: "bye"}
		case <-time.After(wait):
			return nil
		}
	})
	c := dial(t, url)
	var pings atomic.Int32
	c.SetPingHandler(func(string) error {
		pings.Add(1)
		return c.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
	})
	for i := range 3 {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil || string(b) != "ka" {
			t.Fatalf("message %d: %q %v, want the keepalive", i, b, err)
		}
	}
	if p := pings.Load(); p < 3 {
		t.Fatalf("%d pings before the third keepalive, want 3", p)
	}
	if tooLong.Load() {
		t.Fatal("the step was asked to wait longer than PingEvery")
	}
}

// TestClientGoes: when the client closes, the step's ctx ends and Serve
// returns.
func TestClientGoes(t *testing.T) {
	url, done := serve(t, Options{PingEvery: time.Minute}, func(ctx context.Context, s *Stream, wait time.Duration) error {
		<-ctx.Done()
		return &Close{Code: websocket.CloseGoingAway, Reason: "bye"}
	})
	c := dial(t, url)
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	wait(t, done, "after the client's close")
}

// TestSilentClientDropped: a client that answers no ping is dropped after
// PongWait.
func TestSilentClientDropped(t *testing.T) {
	url, done := serve(t, Options{PingEvery: 20 * time.Millisecond, PongWait: 100 * time.Millisecond, WriteWait: time.Second},
		func(ctx context.Context, s *Stream, wait time.Duration) error {
			select {
			case <-ctx.Done():
				return &Close{Code: websocket.CloseGoingAway, Reason: "bye"}
			case <-time.After(wait):
				return nil
			}
		})
	dial(t, url) // never reads: its pongs are never sent
	wait(t, done, "a silent client")
}

// TestOriginRefused: the default check refuses a page of another site,
// and o.Error answers it.
func TestOriginRefused(t *testing.T) {
	var status atomic.Int32
	url, _ := serve(t, Options{Error: func(w http.ResponseWriter, r *http.Request, s int, reason error) {
		status.Store(int32(s))
		http.Error(w, "no", s)
	}}, func(context.Context, *Stream, time.Duration) error { return errors.New("unreachable") })
	_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden || status.Load() != http.StatusForbidden {
		t.Fatalf("dial from another origin: %v %v, Error saw %d", err, resp, status.Load())
	}
}
