package fleetpage

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// limiter allows each remote address n failed logins in any window. An
// attempt counts from the moment it is checked (guesses sent at once
// cannot all pass) and is forgiven when it succeeds.
type limiter struct {
	n      int
	window time.Duration

	mu    sync.Mutex
	tries map[string][]time.Time
}

func newLimiter(n int, window time.Duration) *limiter {
	return &limiter{n: n, window: window, tries: map[string][]time.Time{}}
}

// allow records an attempt of client at now and tells whether it is within
// the limit; when not, it also tells when the next one will be.
func (l *limiter) allow(client string, now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c, ts := range l.tries { // forget the old, so that the map stays small
		if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= l.window {
			delete(l.tries, c)
		}
	}
	ts := l.tries[client]
	for len(ts) > 0 && now.Sub(ts[0]) >= l.window {
		ts = ts[1:]
	}
	if len(ts) >= l.n {
		l.tries[client] = ts
		return false, ts[0].Add(l.window)
	}
	l.tries[client] = append(ts, now)
	return true, time.Time{}
}

// forgive takes back client's attempt at at.
func (l *limiter) forgive(client string, at time.Time) {
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

// remote is who r comes from for the limit: its IPv4 address, or the /64
// of its IPv6 address (a host may take any address of its network).
func remote(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Unmap().Is4() {
		return host
	}
	pfx, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return host
	}
	return pfx.String()
}
