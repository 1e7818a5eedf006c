package web_test

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/display/web"
)

// TestLimiter: n attempts per window, the time of the next one when over,
// a forgiven attempt no longer counts, the window slides, and a client's
// IPv6 neighbours in its /64 share its count while other clients have
// their own.
func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	l := web.NewLimiter(3, time.Minute)
	for i := range 3 {
		if ok, _ := l.Allow("2001:db8::1", t0.Add(time.Duration(i)*time.Second)); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if ok, next := l.Allow("2001:db8::2", t0.Add(10*time.Second)); ok || !next.Equal(t0.Add(time.Minute)) {
		t.Errorf("4th attempt from the same /64: %v, next %v; want refused until %v", ok, next, t0.Add(time.Minute))
	}
	if ok, _ := l.Allow("2001:db8:0:1::1", t0.Add(10*time.Second)); !ok {
		t.Error("another /64 was refused")
	}
	if ok, _ := l.Allow("192.0.2.1", t0.Add(10*time.Second)); !ok {
		t.Error("another client was refused")
	}
	l.Forgive("2001:db8::1", t0.Add(2*time.Second))
	if ok, _ := l.Allow("2001:db8::1", t0.Add(11*time.Second)); !ok {
		t.Error("refused after an attempt was forgiven")
	}
	if ok, _ := l.Allow("2001:db8::1", t0.Add(12*time.Second)); ok {
		t.Error("allowed over the limit")
	}
	if ok, _ := l.Allow("2001:db8::1", t0.Add(time.Minute+time.Second)); !ok {
		t.Error("refused after the oldest attempt left the window")
	}
}

// TestLimiterConcurrent: guesses sent at once cannot all pass.
func TestLimiterConcurrent(t *testing.T) {
	l := web.NewLimiter(5, time.Hour)
	now := time.Now()
	var mu sync.Mutex
	passed := 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if ok, _ := l.Allow("192.0.2.7", now); ok {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if passed != 5 {
		t.Errorf("%d of 50 attempts passed, want 5", passed)
	}
}

// TestClientAndNetwork: the address without the port; IPv4 (also mapped)
// by itself, IPv6 by its /64.
func TestClientAndNetwork(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for addr, want := range map[string]string{
		"192.0.2.1:5000":         "192.0.2.1",
		"[2001:db8::1%eth0]:443": "2001:db8::1%eth0",
		"pipe":                   "pipe",
	} {
		r.RemoteAddr = addr
		if got := web.Client(r); got != want {
			t.Errorf("Client(%q) = %q, want %q", addr, got, want)
		}
	}
	for c, want := range map[string]string{
		"192.0.2.1":        "192.0.2.1",
		"::ffff:192.0.2.1": "::ffff:192.0.2.1",
		"2001:db8::1%eth0": "2001:db8::/64",
		"2001:db8::abcd:1": "2001:db8::/64",
		"not an address":   "not an address",
	} {
		if got := web.Network(c); got != want {
			t.Errorf("Network(%q) = %q, want %q", c, got, want)
		}
	}
}
