package web

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// Whatever the Host header holds, the check does not panic, and it lets
// through only a listed name or an IP address (loopback, or the box's):
// never another name.
func FuzzAllowedHost(f *testing.F) {
	for _, s := range []string{"evil.example", "localhost:80", "[::1]:8081", "127.0.0.1", "till7.shop.lan.", "[fe80::1%eth0]:80",
		"localhost.evil.example", "::1", "[", "127.0.0.1.nip.io", "TILL7.SHOP.LAN:1", ""} {
		f.Add(s)
	}
	names := map[string]bool{"localhost": true, "till7.shop.lan": true}
	f.Fuzz(func(t *testing.T, host string) {
		r := httptest.NewRequest("GET", "/display/", nil)
		r.Host = host
		if !allowedHost(r, names) || host == "" {
			return
		}
		h := host
		if i := strings.LastIndex(h, ":"); i >= 0 && !strings.HasSuffix(h, "]") && strings.Count(h, ":") == 1 {
			h = h[:i]
		}
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if i := strings.LastIndex(h, "]:"); i >= 0 {
			h = strings.TrimPrefix(h[:i], "[")
		}
		if _, err := netip.ParseAddr(h); err == nil {
			return
		}
		if !names[canonical(h)] {
			t.Errorf("Host %q let through: not a listed name nor an address", host)
		}
	})
}
