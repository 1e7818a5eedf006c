package fleetpage

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLoginThenPage(t *testing.T) {
	r := newRig(t, twoStores(start), nil)
	c := r.client(t)

	// Not logged in: the page sends to the form, the API refuses.
	if a := r.get(t, c, "/"); a.status != http.StatusSeeOther || a.header.Get("Location") != "login" {
		t.Fatalf("GET / logged out: %d %q, want 303 to login", a.status, a.header.Get("Location"))
	}
	if a := r.get(t, c, "/api/fleet"); a.status != http.StatusUnauthorized || strings.Contains(a.body, "bergen") {
		t.Fatalf("GET /api/fleet logged out: %d %q, want 401 without data", a.status, a.body)
	}
	form := r.get(t, c, "/login")
	if form.status != http.StatusOK || !strings.Contains(form.body, `name="password"`) {
		t.Fatalf("login form: %d %s", form.status, form.body)
	}
	if csp := form.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("login form CSP %q", csp)
	}

	a := r.login(t, c, "alice", alicePassword)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "./" {
		t.Fatalf("login: %d %q %s, want 303 to ./", a.status, a.header.Get("Location"), a.body)
	}
	ck := cookie(t, a.header, cookieName)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/" ||
		ck.MaxAge != int((12*time.Hour).Seconds()) {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP, 12 h", ck)
	}
	if raw, err := url.QueryUnescape(ck.Value); err != nil || len(raw) != 43 { // 32 bytes, base64url
		t.Errorf("session id %q: want 32 random bytes", ck.Value)
	}

	page := r.get(t, c, "/")
	if page.status != http.StatusOK {
		t.Fatalf("GET / logged in: %d %s", page.status, page.body)
	}
	text := plain(page.body)
	for _, want := range []string{"Tills connected 1/2", "2 stores", "bergen-1", "oslo-1", "till-1", "till-7",
		"connected", "offline", "5 min ago", "2 s ago", "1 of 2 connected; missing: self-checkout",
		"7 events (headquarters has 1000 of 1007)", "12 345,00 kr", "12 000,00 kr", "123,45 kr", "598,00 kr",
		"12 (11 completed)", "Offline: oslo-1 till-7", `vipps: token: Post "https://apitest.vipps.no/accesstoken/get": dial tcp`, "1.5.2", "Log out alice", "Sales today (2026-12-07)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q:\n%s", want, text)
		}
	}

	if !strings.Contains(page.body, `<meta http-equiv="refresh" content="10">`) {
		t.Error("the page does not refresh itself every 10 s")
	}

	var f struct {
		Tills, Connected int
		Day              string
		Stores           []struct {
			Store string
			Tills []struct {
				Till                  string
				Connected             bool
				SecondsSinceHeartbeat int64
				Lag                   uint64
				Scanners              []struct{ Name string }
			}
			Sales []struct {
				Currency                   string
				Amount, Captured, Refunded int64
			}
		}
	}
	api := r.get(t, c, "/api/fleet")
	if api.status != http.StatusOK || api.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/fleet: %d %s", api.status, api.body)
	}
	if err := json.Unmarshal([]byte(api.body), &f); err != nil {
		t.Fatal(err)
	}
	if f.Tills != 2 || f.Connected != 1 || f.Day != "2026-12-07" || len(f.Stores) != 2 ||
		f.Stores[1].Tills[0].SecondsSinceHeartbeat != 300 || f.Stores[1].Tills[0].Lag != 7 ||
		f.Stores[1].Tills[0].Connected || !f.Stores[0].Tills[0].Connected ||
		f.Stores[0].Sales[0].Captured != 1200000 || f.Stores[0].Sales[0].Refunded != 12345 {
		t.Errorf("/api/fleet: %s", api.body)
	}
	// The sales asked for are today's in Oslo: midnight there.
	if d := r.src.days[len(r.src.days)-1]; d.Location().String() != "Europe/Oslo" || d.Hour() != 0 || d.Day() != 7 {
		t.Errorf("sales asked for %v, want 2026-12-07 00:00 Europe/Oslo", d)
	}

	// Log out: the session ends, also for whoever kept the cookie.
	if a := r.post(t, c, "/logout", nil); a.status != http.StatusSeeOther || a.header.Get("Location") != "login" {
		t.Fatalf("logout: %d %q", a.status, a.header.Get("Location"))
	}
	stolen := r.client(t)
	stolen.Jar.SetCookies(mustURL(t, r.srv.URL), []*http.Cookie{{Name: cookieName, Value: ck.Value}})
	if a := r.get(t, stolen, "/api/fleet"); a.status != http.StatusUnauthorized {
		t.Errorf("the session's cookie after logout: %d, want 401", a.status)
	}
	if a := r.get(t, c, "/"); a.status != http.StatusSeeOther {
		t.Errorf("GET / after logout: %d, want 303 to login", a.status)
	}
}

func TestBadLoginSaysTheSameForUnknownUserAndWrongPassword(t *testing.T) {
	r := newRig(t, twoStores(start), nil)
	c := r.client(t)
	wrong := r.login(t, c, "alice", bobPassword)
	unknown := r.login(t, c, "mallory", alicePassword)
	empty := r.login(t, c, "alice", "")
	for _, a := range []answer{wrong, unknown, empty} {
		if a.status != http.StatusUnauthorized || !strings.Contains(a.body, badLogin) {
			t.Errorf("bad login: %d %s, want 401 %q", a.status, a.body, badLogin)
		}
		if a.header.Get("Set-Cookie") != "" {
			t.Errorf("bad login set a cookie: %q", a.header.Get("Set-Cookie"))
		}
	}
	if strings.ReplaceAll(wrong.body, "alice", "X") != strings.ReplaceAll(unknown.body, "mallory", "X") {
		t.Errorf("the answers differ:\n%s\n%s", wrong.body, unknown.body)
	}
	if a := r.get(t, c, "/api/fleet"); a.status != http.StatusUnauthorized {
		t.Errorf("after bad logins: %d, want 401", a.status)
	}
}

func TestLoginLimitPerAddress(t *testing.T) {
	r := newRig(t, twoStores(start), func(o *Options) { o.LoginTries = 3; o.LoginWindow = time.Minute })
	c := r.client(t)
	for i := range 3 {
		if a := r.login(t, c, "alice", "guess "+string(rune('a'+i))); a.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, a.status)
		}
	}
	// The limit is reached: even the right password waits.
	a := r.login(t, c, "alice", alicePassword)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "60" {
		t.Fatalf("4th login: %d Retry-After %q, want 429 60", a.status, a.header.Get("Retry-After"))
	}
	r.clock.Advance(time.Minute)
	if a := r.login(t, c, "alice", alicePassword); a.status != http.StatusSeeOther {
		t.Fatalf("login after the window: %d %s", a.status, a.body)
	}
	// A good login is no guess: it leaves the tries of the address as
	// they were.
	for range 2 {
		r.login(t, r.client(t), "bob", "wrong password!")
	}
	if a := r.login(t, r.client(t), "bob", bobPassword); a.status != http.StatusSeeOther {
		t.Fatalf("bob's login after 2 guesses: %d", a.status)
	}
}

func TestSessionExpires(t *testing.T) {
	r := newRig(t, twoStores(start), func(o *Options) { o.SessionIdle = time.Hour; o.SessionMax = 3 * time.Hour })
	c := r.client(t)
	r.login(t, c, "alice", alicePassword)
	for range 5 { // used every 50 minutes: alive until 3 hours are up
		r.clock.Advance(50 * time.Minute)
		if a := r.get(t, c, "/api/fleet"); a.status != http.StatusOK {
			t.Fatalf("at %v: %d, want 200", r.clock.Now().Sub(start), a.status)
		}
		if r.clock.Now().Sub(start) >= 150*time.Minute {
			break
		}
	}
	r.clock.Advance(30 * time.Minute)
	if a := r.get(t, c, "/api/fleet"); a.status != http.StatusUnauthorized {
		t.Errorf("after 3 hours: %d, want 401", a.status)
	}

	c2 := r.client(t)
	r.login(t, c2, "bob", bobPassword)
	r.clock.Advance(time.Hour)
	if a := r.get(t, c2, "/api/fleet"); a.status != http.StatusUnauthorized {
		t.Errorf("after an hour unused: %d, want 401", a.status)
	}
}

func TestCrossSitePostsRefused(t *testing.T) {
	r := newRig(t, twoStores(start), nil)
	c := r.client(t)
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "", "Origin", "https://evil.example"},
	} {
		a := r.post(t, c, "/login", url.Values{"name": {"alice"}, "password": {alicePassword}}, h...)
		if a.status != http.StatusForbidden || a.header.Get("Set-Cookie") != "" {
			t.Errorf("cross-site login %v: %d, want 403 without a session", h, a.status)
		}
	}
	r.login(t, c, "alice", alicePassword)
	if a := r.post(t, c, "/logout", nil, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); a.status != http.StatusForbidden {
		t.Errorf("cross-site logout: %d, want 403", a.status)
	}
	if a := r.get(t, c, "/api/fleet"); a.status != http.StatusOK {
		t.Errorf("after the refused logout: %d, want still logged in", a.status)
	}
}

func TestHostChecked(t *testing.T) {
	r := newRig(t, twoStores(start), func(o *Options) { o.Hosts = []string{"fleet.nordkjede.example"} })
	c := r.client(t)
	for host, want := range map[string]int{"rebind.evil.example": http.StatusMisdirectedRequest,
		"fleet.nordkjede.example": http.StatusOK, "127.0.0.1": http.StatusOK} {
		req, err := http.NewRequest(http.MethodGet, r.srv.URL+"/login", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if a := do(t, c, req); a.status != want {
			t.Errorf("Host %s: %d, want %d", host, a.status, want)
		}
	}
}

func TestSecureCookies(t *testing.T) {
	// Behind a proxy that speaks TLS to browsers.
	r := newRig(t, twoStores(start), func(o *Options) { o.SecureCookies = true })
	a := r.login(t, r.client(t), "alice", alicePassword)
	if ck := cookie(t, a.header, cookieNameSecure); !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie %+v, want Secure", ck)
	}

	// Served over TLS itself.
	src := twoStores(start)
	h, err := New(src, Options{Users: hashes(), Heartbeat: heartbeat})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	tr := &rig{srv: srv, src: src}
	a = tr.login(t, c, "alice", alicePassword)
	if ck := cookie(t, a.header, cookieNameSecure); !ck.Secure {
		t.Errorf("cookie over TLS %+v, want Secure", ck)
	}
	if a.header.Get("Strict-Transport-Security") == "" {
		t.Error("no Strict-Transport-Security over TLS")
	}
}

func TestSourceFailing(t *testing.T) {
	src := twoStores(start)
	src.err = errors.New("pgx: connect to postgres://hq@10.0.0.5/fleet failed: secret-detail")
	r := newRig(t, src, nil)
	c := r.client(t)
	r.login(t, c, "alice", alicePassword)
	for _, path := range []string{"/", "/api/fleet"} {
		a := r.get(t, c, path)
		if a.status != http.StatusServiceUnavailable || strings.Contains(a.body, "secret-detail") ||
			!strings.Contains(a.body, "database does not answer") {
			t.Errorf("GET %s with the database down: %d %q", path, a.status, a.body)
		}
	}
	// Only the sales failing: the tills are still shown.
	src.mu.Lock()
	src.err, src.salesErr = nil, errors.New("statement timeout")
	src.mu.Unlock()
	a := r.get(t, c, "/")
	if text := plain(a.body); a.status != http.StatusOK || !strings.Contains(text, "till-7") ||
		!strings.Contains(text, "today's sales could not be read") {
		t.Errorf("sales failing: %d %s", a.status, text)
	}
}

func TestNoSecretOnThePage(t *testing.T) {
	r := newRig(t, twoStores(start), nil)
	c := r.client(t)
	a := r.login(t, c, "alice", alicePassword)
	id := cookie(t, a.header, cookieName).Value
	for _, path := range []string{"/", "/api/fleet", "/login"} {
		body := r.get(t, c, path).body
		for _, secret := range []string{"$argon2id", alicePassword, id} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows a secret (%.12s…)", path, secret)
			}
		}
	}
}

func TestNewRefuses(t *testing.T) {
	src := twoStores(start)
	for name, o := range map[string]Options{
		"no users":     {Heartbeat: heartbeat},
		"not a hash":   {Users: map[string]string{"alice": "hunter2"}, Heartbeat: heartbeat},
		"no heartbeat": {Users: hashes()},
		"empty name":   {Users: map[string]string{"": hashes()["alice"]}, Heartbeat: heartbeat},
	} {
		if _, err := New(src, o); err == nil {
			t.Errorf("%s: New accepted it", name)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the configured value: %v", name, err)
		}
	}
}

func cookie(t *testing.T, h http.Header, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no cookie %s in %v", name, h["Set-Cookie"])
	return nil
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// plain is a page's text: tags dropped, entities and spaces made plain.
func plain(html string) string {
	var b strings.Builder
	in := false
	for _, r := range html {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	s := strings.NewReplacer("\u00a0", " ", "&#39;", "'", "&amp;", "&", "&quot;", `"`, "&#34;", `"`).Replace(b.String())
	return strings.Join(strings.Fields(s), " ")
}

func TestUnderAPrefix(t *testing.T) {
	src := twoStores(time.Now()) // the system's clock
	h, err := New(src, Options{Users: hashes(), Heartbeat: heartbeat})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/fleet/", http.StripPrefix("/fleet", h))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "not the page", http.StatusTeapot) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	r := &rig{srv: srv, src: src}
	c := r.client(t)
	c.CheckRedirect = nil // follow, as a browser does

	a := r.get(t, c, "/fleet/")
	if a.status != http.StatusOK || !strings.Contains(a.body, `action="login"`) {
		t.Fatalf("GET /fleet/ logged out: %d, want the login form", a.status)
	}
	a = r.post(t, c, "/fleet/login", url.Values{"name": {"bob"}, "password": {bobPassword}})
	if a.status != http.StatusOK || !strings.Contains(plain(a.body), "Tills connected 1/2") {
		t.Fatalf("login under /fleet/: %d %s", a.status, plain(a.body))
	}
	if a := r.get(t, c, "/fleet/static/fleet.css"); a.status != http.StatusOK || !strings.Contains(a.body, "dl.grid") {
		t.Errorf("style sheet under /fleet/: %d", a.status)
	}
	if a := r.post(t, c, "/fleet/logout", nil); a.status != http.StatusOK || !strings.Contains(a.body, `name="password"`) {
		t.Errorf("logout under /fleet/: %d, want the login form", a.status)
	}
}
