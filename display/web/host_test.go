package web_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/tillbox/tillbox/display"
	"github.com/tillbox/tillbox/display/web"
)

// The customer display behind the Host check, over real HTTP: a page and
// a WebSocket asked for by another name (DNS rebinding: Host evil.example,
// and an Origin to match) are refused; localhost, loopback, the box's own
// address and a configured name are served.
func TestHostCheck(t *testing.T) {
	hub := display.NewHub(display.Options{})
	if _, err := hub.AddTill("t1", "en"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.CheckHost(hub.Handler(), []string{"Till7.shop.lan."}))
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	get := func(host string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", srv.URL+display.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	ws := func(host string) (*http.Response, error) {
		t.Helper()
		hdr := http.Header{"Host": {host}, "Origin": {"http://" + host}}
		conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+display.Path+"ws", hdr)
		if err == nil {
			conn.Close()
		}
		return resp, err
	}

	for _, evil := range []string{"evil.example", "evil.example:" + itoa(port), "till7.shop.lan.evil.example", "10.255.255.1"} {
		code, body := get(evil)
		if code != http.StatusMisdirectedRequest || !strings.Contains(body, "box.hosts") {
			t.Errorf("the page for Host %s: %d %q, want 421 naming box.hosts", evil, code, body)
		}
		if resp, err := ws(evil); err == nil {
			t.Errorf("the WebSocket upgraded for Host %s", evil)
		} else if resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("the WebSocket for Host %s: %v (%v), want 421", evil, err, resp)
		}
	}

	good := []string{"localhost", "localhost:" + itoa(port), "127.0.0.1:" + itoa(port), "[::1]:" + itoa(port),
		"till7.shop.lan", "TILL7.shop.lan:" + itoa(port)}
	if ip, ok := lanAddress(); ok {
		good = append(good, net.JoinHostPort(ip.String(), itoa(port)))
	} else {
		t.Log("no LAN address on this machine: the box's own address is not tried")
	}
	for _, host := range good {
		if code, body := get(host); code != http.StatusOK {
			t.Errorf("the page for Host %s: %d %q, want 200", host, code, body)
		}
		if _, err := ws(host); err != nil {
			t.Errorf("the WebSocket for Host %s: %v", host, err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// lanAddress is one of the machine's addresses that is not loopback.
func lanAddress() (netip.Addr, bool) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && !ip.Unmap().IsLoopback() && !ip.IsLinkLocalUnicast() {
				return ip.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}
