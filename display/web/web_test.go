package web

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

func do(h http.Handler, method, host string, hdr http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://"+host+"/page/", nil)
	for k, v := range hdr {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHeaders(t *testing.T) {
	h := Handler(ok, Options{CSP: "default-src 'none'"})
	w := do(h, "GET", "localhost", nil)
	want := map[string]string{
		"Content-Security-Policy":      "default-src 'none'",
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "no-referrer",
		"X-Frame-Options":              "DENY",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Cache-Control":                "no-store",
		"Strict-Transport-Security":    "",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}

	h = Handler(ok, Options{CSP: "x", ReferrerPolicy: "same-origin", CacheControl: "no-cache"})
	r := httptest.NewRequest("GET", "https://localhost/", nil)
	r.TLS = &tls.ConnectionState{}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Header().Get("Referrer-Policy") != "same-origin" || w.Header().Get("Cache-Control") != "no-cache" ||
		w.Header().Get("Strict-Transport-Security") == "" {
		t.Errorf("options or TLS not followed: %v", w.Header())
	}
}

// TestCrossOrigin: with CrossOrigin, a POST from another site is refused by
// Deny (the headers still set) and one from the page itself served; a GET
// from another site is served. Without it, the POST is served.
func TestCrossOrigin(t *testing.T) {
	deny := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "denied", http.StatusTeapot) })
	h := Handler(ok, Options{CSP: "x", CrossOrigin: true, Deny: deny})
	cross := http.Header{"Sec-Fetch-Site": {"cross-site"}}
	if w := do(h, "POST", "localhost", cross); w.Code != http.StatusTeapot || w.Header().Get("Content-Security-Policy") != "x" {
		t.Errorf("cross-site POST: %d %v, want 418 with the headers", w.Code, w.Header())
	}
	if w := do(h, "POST", "localhost", http.Header{"Sec-Fetch-Site": {"same-origin"}}); w.Code != http.StatusNoContent {
		t.Errorf("same-origin POST: %d", w.Code)
	}
	if w := do(h, "GET", "localhost", cross); w.Code != http.StatusNoContent {
		t.Errorf("cross-site GET: %d", w.Code)
	}
	if w := do(Handler(ok, Options{CSP: "x", CrossOrigin: true}), "POST", "localhost", cross); w.Code != http.StatusForbidden {
		t.Errorf("cross-site POST, no Deny: %d, want 403", w.Code)
	}
	if w := do(Handler(ok, Options{CSP: "x"}), "POST", "localhost", cross); w.Code != http.StatusNoContent {
		t.Errorf("cross-site POST without CrossOrigin: %d", w.Code)
	}
}

// TestHandlerChecksHost: with CheckHost, another name is refused (421) and
// a configured one served; without it, any name is served.
func TestHandlerChecksHost(t *testing.T) {
	h := Handler(ok, Options{CSP: "x", CheckHost: true, Hosts: []string{"till7.shop.lan"}})
	if w := do(h, "GET", "evil.example", nil); w.Code != http.StatusMisdirectedRequest || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("evil.example: %d %v, want 421 no-store", w.Code, w.Header())
	}
	if w := do(h, "GET", "Till7.shop.lan:8080", nil); w.Code != http.StatusNoContent {
		t.Errorf("a configured name: %d", w.Code)
	}
	if w := do(Handler(ok, Options{CSP: "x"}), "GET", "evil.example", nil); w.Code != http.StatusNoContent {
		t.Errorf("no CheckHost: %d", w.Code)
	}
}
