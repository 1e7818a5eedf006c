package display

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// serve runs h's handler on a loopback HTTP server until the test ends.
func serve(t testing.TB, h *Hub) string {
	t.Helper()
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close) // before srv.Close: ends the streams
	return srv.URL
}

func dial(t *testing.T, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+Path+"ws", hdr)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	// A bound on a stuck test, not a timed assertion.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	return conn
}

func read(t *testing.T, conn *websocket.Conn) message {
	t.Helper()
	_, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

// Over a real WebSocket: the snapshot, then each change, to every display
// of the till; pings and keepalives while nothing changes; a close with
// "going away" when the box stops.
func TestWebSocketStream(t *testing.T) {
	h := NewHub(Options{PingEvery: 20 * time.Millisecond})
	till, err := h.AddTill("t1", "da")
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, h)
	a, b := dial(t, url, nil), dial(t, url, nil)
	pinged := make(chan struct{}, 1)
	a.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return a.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
	})
	for _, c := range []*websocket.Conn{a, b} {
		if m := read(t, c); m.Type != "snapshot" || m.View.Lang != "da" || m.View.Screen != Idle {
			t.Fatalf("first message %+v", m)
		}
	}
	till.NotRecognised("other-url")
	for _, c := range []*websocket.Conn{a, b} {
		m := read(t, c)
		for m.Type == "keepalive" {
			m = read(t, c)
		}
		if m.Type != "change" || m.View.Screen != Unrecognised || m.View.Reason != "other-url" {
			t.Fatalf("change %+v", m)
		}
	}
	// Idle now: keepalives come, and pings (answered by a's reader).
	for m := read(t, a); m.Type != "keepalive"; m = read(t, a) {
		t.Fatalf("unexpected %+v", m)
	}
	<-pinged

	h.Close()
	for {
		_, _, err := b.ReadMessage()
		if err == nil {
			continue // a keepalive sent before the close
		}
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("after Close: %v, want close 1001", err)
		}
		break
	}
}

// The page: embedded, with a strict CSP and no inline script or style,
// in the till's language; a display of another site or of an unknown till
// is refused.
func TestHandler(t *testing.T) {
	h := NewHub(Options{})
	if _, err := h.AddTill("t1", "fi"); err != nil {
		t.Fatal(err)
	}
	url := serve(t, h)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, page := get(Path)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != CSP ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("page: %s %v", resp.Status, resp.Header)
	}
	if !strings.Contains(page, `<html lang="fi">`) {
		t.Error("the page does not start in the till's language")
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`), // inline script
		regexp.MustCompile(`<script(?:\s(?:[^s>]|s[^r])*)?>`),
		regexp.MustCompile(`<style`), regexp.MustCompile(`\sstyle=`), regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`https?://`), // nothing from elsewhere
	} {
		if loc := bad.FindStringIndex(page); loc != nil {
			t.Errorf("the page has %q", page[loc[0]:min(loc[1]+20, len(page))])
		}
	}
	for path, ctype := range map[string]string{"display.js": "text/javascript; charset=utf-8", "display.css": "text/css; charset=utf-8"} {
		resp, body := get(Path + path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype || resp.Header.Get("Content-Security-Policy") != CSP {
			t.Errorf("%s: %s %v", path, resp.Status, resp.Header)
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s names another site", path)
		}
	}
	if resp, _ := get(Path + "nothing.js"); resp.StatusCode != 404 {
		t.Errorf("an unknown asset: %s", resp.Status)
	}
	if resp, _ := get(Path + "ws?till=other"); resp.StatusCode != 404 {
		t.Errorf("the stream of an unknown till: %s", resp.Status)
	}
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+Path+"ws",
		http.Header{"Origin": {"http://shop.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a page of another site got the stream: %v %v", err, resp)
	}
}
