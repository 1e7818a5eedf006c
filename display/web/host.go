package web

import (
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
)

// CheckHost serves next only for requests to an allowed host; others get
// 421 Misdirected Request with a text that says what to do. A WebSocket
// upgrade to another host is refused the same way, before the upgrade. A
// page on a name the attacker controls that resolves to the box (DNS
// rebinding) would otherwise be same-origin with it, and its script could
// read the customer display's WebSocket or post the technician page's forms
// from a customer's or technician's browser.
//
// Allowed are the box's own addresses (the address the connection came in
// on, and every interface address of the box), loopback, "localhost", the
// box's host name (and its mDNS name, host.local), and names, the ones the
// integrator configures (box.hosts). The port is not compared.
func CheckHost(next http.Handler, names []string) http.Handler {
	allowed := map[string]bool{"localhost": true}
	for _, n := range names {
		allowed[canonical(n)] = true
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		allowed[canonical(h)] = true
		if !strings.Contains(h, ".") {
			allowed[canonical(h)+".local"] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowedHost(r, allowed) {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "misdirected request: this box does not answer to the name "+quote(r.Host)+
				"; open it by its address or localhost, or add the name to box.hosts in the configuration", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHost tells whether r's Host is one of names (canonical: lower case,
// no final dot) or an address of the box.
func allowedHost(r *http.Request, names map[string]bool) bool {
	host := r.Host
	if host == "" {
		return true // HTTP/1.0 without Host: not a browser
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return names[canonical(host)]
	}
	ip = ip.WithZone("").Unmap()
	if ip.IsLoopback() {
		return true
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(la.String()); err == nil && ap.Addr().WithZone("").Unmap() == ip {
			return true
		}
	}
	return own(ip)
}

// own tells whether ip is one of the box's interface addresses (read
// anew: DHCP may have changed them).
func own(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

func canonical(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

// quote is name for the refusal's text, cut short and without control
// characters.
func quote(name string) string {
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '"' {
			return '?'
		}
		return r
	}, name) + `"`
}
