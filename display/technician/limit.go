package technician

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// limiter allows each client n failed sign-in attempts in any window. An
// attempt is counted while it is checked (so that guesses sent at once
// cannot all pass), and forgiven when it was no guess: a good password, or
// a form refused before any check.
type limiter struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	tries  map[string][]time.Time
}

func newLimiter(n int, window time.Duration) *limiter {
	return &limiter{n: n, window: window, tries: map[string][]time.Time{}}
}

// allow records an attempt of client at now and tells whether it is within
// the limit; when not, it also tells when the next attempt will be.
func (l *limiter) allow(client string, now time.Time) (bool, time.Time) {
	client = network(client)
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

// forgive takes back the attempt of client that allow recorded at at.
func (l *limiter) forgive(client string, at time.Time) {
	client = network(client)
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

// network is what a client is counted by: its IPv4 address, or its IPv6
// address's /64 (a host may take any address of its network, one per try).
func network(client string) string {
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

// client is who r comes from for the rate limit: its IP address (the box
// sits on the shop's LAN; there is no proxy in front of it).
func client(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
