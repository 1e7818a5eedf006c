package web

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Limiter allows each client n failed sign-in attempts in any window: the
// attempt limit of the pages that take a password. Clients are counted by
// [Network]. An attempt is counted while it is checked (so that guesses
// sent at once cannot all pass), and forgiven ([Limiter.Forgive]) when it
// was no guess: a good password, or a form refused before any check. It is
// safe for concurrent use.
type Limiter struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	tries  map[string][]time.Time
}

// NewLimiter returns a Limiter of n attempts per client in any window.
func NewLimiter(n int, window time.Duration) *Limiter {
	return &Limiter{n: n, window: window, tries: map[string][]time.Time{}}
}

// Allow records an attempt of client (an IP address, as [Client] gives it)
// at now and tells whether it is within the limit; when not, it also tells
// when the next attempt will be.
func (l *Limiter) Allow(client string, now time.Time) (bool, time.Time) {
	client = Network(client)
	l.mu.Lock()
	defer l.mu.Unlock()
	// Forget what is out of every window, so that the map stays small.
	for c, ts := range l.tries {
		if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= l.window {
			delete(l.tries, c)
		}
	}
	ts := l.tries[client]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) >= l.n {
		l.tries[client] = ts
		return false, ts[0].Add(l.window)
	}
	l.tries[client] = append(ts, now)
	return true, time.Time{}
}

// Forgive takes back the attempt of client that Allow recorded at at.
func (l *Limiter) Forgive(client string, at time.Time) {
	client = Network(client)
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.tries[client]
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].Equal(at) {
			l.tries[client] = append(ts[:i:i], ts[i+1:]...)
			return
		}
	}
}

// Network is what a client (an IP address) is counted by: its IPv4
// address, or its IPv6 address's /64 (a host may take any address of its
// network, one per try). Anything else is itself.
func Network(client string) string {
	ip, err := netip.ParseAddr(client)
	if err != nil || ip.Unmap().Is4() {
		return client
	}
	p, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return client
	}
	return p.String()
}

// Client is who r comes from: the IP address of r.RemoteAddr (no proxy is
// trusted in front of the pages), or r.RemoteAddr when it has no port.
func Client(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
