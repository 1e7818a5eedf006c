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
