package display_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// link is the network between a display and the box: a loopback TCP relay
// the test can cut (every connection dies, nothing is accepted) and mend on
// the same address.
type link struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newLink(t *testing.T, target string) *link {
	l := &link{t: t, target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.addr = ln.Addr().String()
	l.start(ln)
	t.Cleanup(l.cut)
	return l
}

func (l *link) start(ln net.Listener) {
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	l.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", l.target)
			if err != nil {
				c.Close()
				continue
			}
			l.mu.Lock()
			l.conns[c], l.conns[up] = struct{}{}, struct{}{}
			l.mu.Unlock()
			l.wg.Go(func() { _, _ = io.Copy(up, c); up.Close() })
			l.wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
		}
	})
}

// cut closes the listener and every connection, and waits for the relay.
func (l *link) cut() {
	l.mu.Lock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	for c := range l.conns {
		c.Close()
		delete(l.conns, c)
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// mend listens again on the same address.
func (l *link) mend() {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		l.t.Fatal(err)
	}
	l.start(ln)
}

// When the box cannot be reached the page says so, keeps trying, and
// shows what happened meanwhile once it is back.
func TestReconnects(t *testing.T) {
	browser := newBrowser(t)
	b := newBox(t, boxOptions{lang: "nb"})
	target := strings.TrimSuffix(strings.TrimPrefix(b.url, "http://"), "/display/")
	l := newLink(t, target)
	tb := openTab(t, browser, 800, 480, "http://"+l.addr+"/display/?till=till1")
	tb.waitScreen(t, "idle")

	l.cut()
	tb.wait(t, "the unreachable notice", `document.body.dataset.conn === 'down' && !document.getElementById('conn').hidden`)
	if got := tb.shown(t); !strings.Contains(got.Conn, "Får ikke kontakt med kassen") {
		t.Errorf("the notice says %q", got.Conn)
	}
	tb.screenshot(t, "nb-unreachable", true)

	// A sale is rung up while the display is away.
	b.sale(49800, "")
	l.mend()
	tb.waitScreen(t, "idle")
	tb.wait(t, "the amount", `document.querySelector('#idle .amount').innerText === '498,00\u00a0kr'`)
	if got := tb.shown(t); got.Conn != "" {
		t.Errorf("the notice %q stays after reconnecting", got.Conn)
	}
	if n := b.till.Displays(); n != 1 {
		t.Errorf("%d displays connected after the reconnect, want 1", n)
	}
}

// The page writes amounts from integer minor units, in each language's
// way, with no floating point: large amounts are exact, non-integers are
// refused.
func TestMoneyFormat(t *testing.T) {
	browser := newBrowser(t)
	b := newBox(t, boxOptions{lang: "en"})
	tb := openTab(t, browser, 800, 480, b.url)
	tb.waitScreen(t, "idle")
	for _, tc := range []struct {
		expr, want string
	}{
		{`formatMoney('nb', 49800, 'NOK')`, "498,00 kr"},
		{`formatMoney('nb', 0, 'NOK')`, "0,00 kr"},
		{`formatMoney('nb', 5, 'NOK')`, "0,05 kr"},
		{`formatMoney('nb', 123456789, 'NOK')`, "1 234 567,89 kr"},
		{`formatMoney('nb', 9007199254740991, 'NOK')`, "90 071 992 547 409,91 kr"},
		{`formatMoney('nb', -250, 'NOK')`, "-2,50 kr"},
		{`formatMoney('da', 100, 'DKK')`, "1,00 kr."},
		{`formatMoney('da', 123456789, 'DKK')`, "1.234.567,89 kr."},
		{`formatMoney('fi', 498, 'EUR')`, "4,98 €"},
		{`formatMoney('fi', 100000, 'EUR')`, "1 000,00 €"},
		{`formatMoney('en', 498, 'EUR')`, "€4.98"},
		{`formatMoney('en', 49800, 'NOK')`, "NOK 498.00"},
		{`formatMoney('en', 100000000000, 'DKK')`, "DKK 1,000,000,000.00"},
		{`formatMoney('nb', 4.5, 'NOK')`, ""},
		{`formatMoney('nb', 9007199254740992, 'NOK')`, ""},
		{`formatLeft(600000)`, "10:00"},
		{`formatLeft(59001)`, "1:00"},
		{`formatLeft(59000)`, "0:59"},
		{`formatLeft(-5)`, "0:00"},
	} {
		got, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`tillboxDisplay.`+tc.expr))
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if want := nbsp(tc.want); got != want {
			t.Errorf("%s = %q, want %q", tc.expr, got, want)
		}
	}
}
