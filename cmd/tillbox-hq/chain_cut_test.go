package main

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
)

// linkCutter stands between one box and the NATS servers: a TCP proxy on
// 127.0.0.1 per server, which the box is configured with instead of the
// servers themselves. Cut closes every connection through it and refuses
// new ones (accepted and closed at once, as a dead shop router would
// reset them) until Restore: the box loses its link for a while, the
// rest of the chain keeps going. TLS passes through untouched (the
// servers' certificates are for 127.0.0.1).
type linkCutter struct {
	mu      sync.Mutex
	cut     bool
	refused int // connections refused while cut
	conns   map[net.Conn]struct{}
	proxies []*proxy
	wg      sync.WaitGroup
}

// proxy is one listener of a cutter, forwarding to target.
type proxy struct {
	l      net.Listener
	target string // host:port
	scheme string // of the server's URL: tls or nats
}

// newLinkCutter listens on a port of 127.0.0.1 for each of urls (a
// comma-separated list of tls:// or nats:// URLs of 127.0.0.1) and
// forwards every connection to its server. It stops when the test ends.
func newLinkCutter(t testing.TB, urls string) *linkCutter {
	t.Helper()
	c := &linkCutter{conns: map[net.Conn]struct{}{}}
	for u := range strings.SplitSeq(urls, ",") {
		scheme, hostPort, ok := strings.Cut(u, "://")
		if !ok {
			t.Fatalf("link cutter: %q is not a URL", u)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := &proxy{l: l, target: hostPort, scheme: scheme}
		c.proxies = append(c.proxies, p)
		c.wg.Go(func() { c.serve(p) })
	}
	t.Cleanup(c.close)
	return c
}

// URLs are the proxies' URLs, one per server, in the servers' order.
func (c *linkCutter) URLs() []string {
	var out []string
	for _, p := range c.proxies {
		out = append(out, p.scheme+"://"+p.l.Addr().String())
	}
	return out
}

// Cut closes every connection through the cutter and refuses new ones
// until Restore.
func (c *linkCutter) Cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for conn := range c.conns {
		conn.Close()
	}
}

// Restore lets connections through again.
func (c *linkCutter) Restore() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = false
}

// Open is the number of connections through the cutter now (both ends
// of each count).
func (c *linkCutter) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

// Refused is the number of connections refused while cut.
func (c *linkCutter) Refused() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused
}

func (c *linkCutter) close() {
	for _, p := range c.proxies {
		p.l.Close()
	}
	c.Cut()
	c.wg.Wait()
}

func (c *linkCutter) serve(p *proxy) {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return // closed at the end of the test
		}
		if !c.track(in) {
			in.Close()
			continue
		}
		c.wg.Go(func() { c.forward(in, p.target) })
	}
}

// track adds conn to the open connections unless the link is cut.
func (c *linkCutter) track(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		c.refused++
		return false
	}
	c.conns[conn] = struct{}{}
	return true
}

func (c *linkCutter) untrack(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.conns, conn)
}

// forward copies both ways between in and a new connection to target
// until either side closes (or a cut closes them).
func (c *linkCutter) forward(in net.Conn, target string) {
	defer c.untrack(in)
	defer in.Close()
	out, err := net.Dial("tcp", target)
	if err != nil {
		return // the server is down: the box sees its connection closed
	}
	if !c.track(out) { // cut while dialling
		out.Close()
		return
	}
	defer c.untrack(out)
	defer out.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) // a reset ends it like a close
		// Half-closing would keep the other direction up through a cut:
		// close both.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

// TestLinkCutter: a NATS client through the cutter works; cut, it loses
// its connection and every attempt to connect again is refused; restored,
// it connects again by itself and works.
func TestLinkCutter(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{TLS: true})
	cut := newLinkCutter(t, ns.URL())
	events := make(chan string, 16)
	nc := ns.Connect(t, strings.Join(cut.URLs(), ","), ns.HQ(), nats.ReconnectWait(20*time.Millisecond),
		nats.IgnoreDiscoveredServers(),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { events <- "disconnected" }),
		nats.ReconnectHandler(func(*nats.Conn) { events <- "reconnected" }))
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if cut.Open() != 2 {
		t.Fatalf("%d connections through the cutter, want the client's and the server's", cut.Open())
	}
	cut.Cut()
	if e := <-events; e != "disconnected" {
		t.Fatalf("after the cut: %s", e)
	}
	waitFor(t, 30*time.Second, "attempts refused", func() bool { return cut.Refused() >= 3 })
	if nc.IsConnected() || cut.Open() != 0 {
		t.Fatalf("cut, yet connected %v with %d connections through", nc.IsConnected(), cut.Open())
	}
	cut.Restore()
	if e := <-events; e != "reconnected" {
		t.Fatalf("after the restore: %s", e)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}
