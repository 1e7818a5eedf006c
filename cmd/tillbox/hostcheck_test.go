package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/tillbox/tillbox/display/technician"
)

// `tillbox run` answers on the customer display and the technician page
// only to its own addresses, localhost and box.hosts: a page of another
// site whose name resolves to the box (DNS rebinding: Host evil.example,
// Origin to match) gets neither the display's WebSocket nor the pages.
func TestRunRefusesOtherHosts(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "http://127.0.0.1:1", "127.0.0.1:0", "")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.Replace(string(text), `till = "t1"`, `till = "t1"`+"\nhosts = [\"till7.shop.lan\"]", 1))
	if err := os.WriteFile(cfg, text, 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	hash, err := technician.HashPassword(techPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := technician.WritePasswordFile(data, hash); err != nil {
		t.Fatal(err)
	}
	logs, done := runTill(t, cfg)
	disp := waitPrinted(t, logs, done, displayPrinted)
	tech := waitPrinted(t, logs, done, techPrinted)

	get := func(page, host string) int {
		t.Helper()
		req, err := http.NewRequest("GET", page, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("Origin", "http://"+host)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	ws := func(host string) (int, error) {
		hdr := http.Header{"Host": {host}, "Origin": {"http://" + host}}
		conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(disp, "http")+"ws", hdr)
		if err == nil {
			conn.Close()
			return http.StatusSwitchingProtocols, nil
		}
		if resp == nil {
			return 0, err
		}
		return resp.StatusCode, err
	}
	port := func(page string) string { u, _ := url.Parse(page); return u.Port() }
	for _, host := range []string{"evil.example", "evil.example:" + port(disp)} {
		if code, err := ws(host); code != http.StatusMisdirectedRequest {
			t.Errorf("the display's WebSocket for Host %s: %d %v, want 421", host, code, err)
		}
		for _, page := range []string{disp, tech, tech + "signin"} {
			if code := get(page, host); code != http.StatusMisdirectedRequest {
				t.Errorf("%s for Host %s: %d, want 421", page, host, code)
			}
		}
	}
	for _, host := range []string{"localhost:" + port(disp), "127.0.0.1:" + port(disp), "till7.shop.lan"} {
		if code, err := ws(host); code != http.StatusSwitchingProtocols {
			t.Errorf("the display's WebSocket for Host %s: %d %v, want it upgraded", host, code, err)
		}
		if code := get(disp, host); code != http.StatusOK {
			t.Errorf("the display for Host %s: %d, want 200", host, code)
		}
		if code := get(tech+"signin", host); code != http.StatusOK {
			t.Errorf("the sign-in page for Host %s: %d, want 200", host, code)
		}
	}
}
