package technician_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/display/technician"
)

// Anyone who reaches the page can open the sign-in form, and each form
// gets a session for its CSRF token: many of them must not push a
// signed-in technician out (the oldest forms go first).
func TestSignInFormsDoNotEvictSignedInSessions(t *testing.T) {
	b := newBox(t, false)
	tech := b.client()
	tech.signIn(password)
	anon := b.client()
	for range 300 {
		if resp, _ := anon.do("GET", "signin", nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET signin: %s", resp.Status)
		}
	}
	if resp, _ := tech.do("GET", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the signed-in technician after 300 sign-in forms: %s, want 200", resp.Status)
	}
}

// The sign-in limit counts an IPv6 client by its /64: a host on the LAN
// picks any address in its network, and a new address per guess must not
// mean five more guesses a minute. Another network has its own five.
func TestSignInLimitPerIPv6Network(t *testing.T) {
	b := newBox(t, false)
	mux := http.NewServeMux()
	mux.Handle(technician.Path, b.console.Handler())
	// The page as LAN clients reach it: each request from the address the
	// test names.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = "[" + r.Header.Get("X-Test-From") + "]:40000"
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	try := func(from string) int {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		send := func(method string, form url.Values) (*http.Response, []byte) {
			var body io.Reader
			if form != nil {
				body = strings.NewReader(form.Encode())
			}
			req, err := http.NewRequest(method, srv.URL+technician.Path+"signin", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Test-From", from)
			if form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			return resp, data
		}
		_, page := send("GET", nil)
		resp, _ := send("POST", url.Values{"csrf": {csrf(t, page)}, "password": {"a wrong guess"}})
		return resp.StatusCode
	}
	for i := range 5 {
		if got := try(fmt.Sprintf("2001:db8:0:7::%x", i+1)); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, got)
		}
	}
	if got := try("2001:db8:0:7:a:b:c:d"); got != http.StatusTooManyRequests {
		t.Errorf("a sixth guess from another address of the same /64: %d, want 429", got)
	}
	if got := try("2001:db8:0:8::1"); got != http.StatusUnauthorized {
		t.Errorf("a guess from another network: %d, want 401", got)
	}
}

// Only failed sign-ins count: a technician who signs in often (a shared
// address, several browsers) is not locked out by it, a refused form
// (stale CSRF token) is no guess either; and an attacker's wrong guesses
// from the same address do not stop a signed-in session.
func TestSignInLimitCountsFailuresOnly(t *testing.T) {
	b := newBox(t, false)
	for range 7 {
		b.client().signIn(password)
	}
	stale := b.client()
	for range 7 {
		if resp, _ := stale.do("POST", "signin", url.Values{"csrf": {"stale"}, "password": {password}}, nil); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("sign-in with a stale form: %s, want 403", resp.Status)
		}
	}
	h := b.client()
	_, page := h.do("GET", "signin", nil, nil)
	if resp, _ := h.do("POST", "signin", url.Values{"csrf": {csrf(t, page)}, "password": {"a wrong guess"}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong password after 7 good sign-ins and 7 stale forms: %s, want 401 (not locked out)", resp.Status)
	}

	tech := b.client()
	tech.signIn(password)
	attacker := b.client()
	_, page = attacker.do("GET", "signin", nil, nil)
	for range 10 {
		attacker.do("POST", "signin", url.Values{"csrf": {csrf(t, page)}, "password": {"a wrong guess"}}, nil)
	}
	if resp, _ := attacker.do("POST", "signin", url.Values{"csrf": {csrf(t, page)}, "password": {password}}, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the attacker after 10 wrong guesses: %s, want 429", resp.Status)
	}
	if resp, _ := tech.do("GET", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the signed-in technician's status page: %s, want 200", resp.Status)
	}
	// A signed-in session posting the sign-in form again (a second tab) is
	// let through to its page, not refused.
	if resp, _ := tech.do("POST", "signin", url.Values{"password": {password}}, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != technician.Path {
		t.Errorf("the signed-in technician's sign-in form: %s to %q, want 303 to %s", resp.Status, resp.Header.Get("Location"), technician.Path)
	}
}

// A form posted from another site is refused even with the right CSRF
// token: a browser tells it by Sec-Fetch-Site (a request from an old page
// may carry no Origin), and the sign-in form is covered too.
func TestCrossOriginFormsRefused(t *testing.T) {
	b := newBox(t, false)
	h := b.client()
	tok := h.signIn(password)
	for _, site := range []string{"cross-site", "same-site"} {
		if resp, _ := h.do("POST", "signout", url.Values{"csrf": {tok}}, http.Header{"Sec-Fetch-Site": {site}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("sign-out posted %s with the right token: %s, want 403", site, resp.Status)
		}
	}
	anon := b.client()
	_, page := anon.do("GET", "signin", nil, nil)
	if resp, _ := anon.do("POST", "signin", url.Values{"csrf": {csrf(t, page)}, "password": {password}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in posted cross-site: %s, want 403", resp.Status)
	}
	if resp, _ := h.do("POST", "signout", url.Values{"csrf": {tok}}, http.Header{"Sec-Fetch-Site": {"same-origin"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out from the page itself: %s, want 303", resp.Status)
	}
}
