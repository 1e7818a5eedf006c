package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/display"
)

// `tillbox run` serves the customer display on display.listen, in the
// configured language, fed by the agent: scans and sales from the POS API
// reach it over its WebSocket, the customer masked.
func TestRunServesTheDisplay(t *testing.T) {
	tl := startTill(t, "")
	resp, err := http.Get(tl.display)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != display.CSP || !strings.Contains(string(page), `<html lang="en">`) {
		t.Fatalf("the display page: %s %v", resp.Status, resp.Header)
	}
	root, err := http.Get(strings.TrimSuffix(tl.display, "display/"))
	if err != nil {
		t.Fatal(err)
	}
	root.Body.Close()
	if root.Request.URL.Path != display.Path {
		t.Errorf("/ led to %s, want the display", root.Request.URL.Path)
	}

	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(tl.display, "http")+"ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound on a stuck test
	var raw []string
	next := func() display.View {
		t.Helper()
		for {
			var m struct {
				Type string        `json:"type"`
				View *display.View `json:"view"`
			}
			_, b, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("display stream: %v", err)
			}
			raw = append(raw, string(b))
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if m.View != nil {
				return *m.View
			}
		}
	}
	if v := next(); v.Screen != display.Idle || v.Lang != "en" {
		t.Fatalf("snapshot %+v", v)
	}
	if _, err := tl.client.Scan(t.Context(), "7038010055512"); err == nil {
		t.Fatal("a product barcode was taken as a scan")
	}
	if v := next(); v.Screen != display.Unrecognised || v.Reason != "product-barcode" {
		t.Fatalf("after a barcode: %+v", v)
	}
	if _, err := tl.client.Scan(t.Context(), personalQR); err != nil {
		t.Fatal(err)
	}
	if v := next(); v.Screen != display.Recognised || v.Customer != "+47 ••• •• 678" {
		t.Fatalf("after a scan: %+v", v)
	}
	s, _, err := tl.client.CreateSale(t.Context(), agent.SaleRequest{Amount: 4990, Currency: "NOK"})
	if err != nil {
		t.Fatal(err)
	}
	for v := next(); v.Screen != display.Paid; v = next() {
		if v.Amount != 4990 || v.Customer != "+47 ••• •• 678" {
			t.Fatalf("on the way to paid: %+v", v)
		}
	}
	tl.waitState(s.Reference, agent.Completed)
	if all := strings.Join(raw, "\n"); strings.Contains(all, "4712345678") {
		t.Errorf("the display got the phone number:\n%s", all)
	}
}
