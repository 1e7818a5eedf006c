package technician_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/display/browsertest"
	"github.com/tillbox/tillbox/display/technician"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// In a browser: the sign-in page, a wrong password, the right one, the
// status page; the session cookie is out of the page's reach; a POST
// without the CSRF token is refused; sign-out ends the session.
func TestBrowserSignIn(t *testing.T) {
	b := newBox(t, false)
	b.agent.Scan(clearQR) // a held scan, and a sale below, for the status page
	if _, err := b.agent.CreateSale(t.Context(), agent.SaleRequest{Amount: 49800, Currency: "NOK",
		Customer: &agent.Customer{PersonalQR: clearQR}}); err != nil {
		t.Fatal(err)
	}
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(b.url)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the sign-in page", `document.body.dataset.page === 'signin'`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#password"), "not the password"), browsertest.Click("#go")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the wrong password refused", `!!document.getElementById('problem')`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#password"), password), browsertest.Click("#go")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the status page", `document.body.dataset.page === 'status'`)
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"v1.2.3-test", "counter", "/dev/ttyACM0", "Reconnects", "Commands queued", "498.00 NOK", "personal QR code", "Sales kept"} {
		if !strings.Contains(text, want) {
			t.Errorf("the status page lacks %q:\n%s", want, text)
		}
	}
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	b.noSecrets("the status page in the browser", http.Header{}, []byte(html))
	// HttpOnly: the page cannot read its session cookie.
	if c, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`)); err != nil || c != "" {
		t.Errorf("document.cookie = %q (%v), want nothing", c, err)
	}
	// A POST from the page without the token, and with a wrong one.
	for _, tok := range []string{"", "wrong"} {
		js := fmt.Sprintf(`(() => { const x = new XMLHttpRequest(); x.open('POST', '/technician/signout', false);
			x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded'); x.send('csrf=%s'); return x.status; })()`, tok)
		if st, err := chromedp.Run(ctx, chromedp.Evaluate[int](js)); err != nil || st != http.StatusForbidden {
			t.Errorf("POST signout with token %q: %d (%v), want 403", tok, st, err)
		}
	}
	// The status page still answers: the refused POSTs did nothing.
	if err := chromedp.Do(ctx, chromedp.Navigate(b.url)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the status page again", `document.body.dataset.page === 'status'`)
	if err := chromedp.Do(ctx, browsertest.Click("#signout")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the sign-in page after sign-out", `document.body.dataset.page === 'signin'`)
	if err := chromedp.Do(ctx, chromedp.Navigate(b.url)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the sign-in page, the session ended", `document.body.dataset.page === 'signin'`)
}

// The scan test shows a scan fed through the agent at once, masked as the
// display shows it, with what it was taken for.
func TestBrowserScanTest(t *testing.T) {
	b := newBox(t, false)
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(b.url+"signin"), chromedp.SendKeys(chromedp.CSS("#password"), password),
		browsertest.Click("#go")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the status page", `document.body.dataset.page === 'status'`)
	if err := chromedp.Do(ctx, browsertest.Click("#nav-scan")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the scan test, live", `document.body.dataset.page === 'scan' && document.getElementById('live').dataset.state === 'live'`)

	b.agent.Scan(clearQR)
	browsertest.WaitJS(t, ctx, "the scan", `document.querySelectorAll('#scan-rows tr').length === 1`)
	b.agent.Scan("7038010055512") // a barcode: not a personal QR code
	browsertest.WaitJS(t, ctx, "the second scan", `document.querySelectorAll('#scan-rows tr').length === 2`)
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#scan-rows tr')].map(r => r.innerText)`))
	if err != nil {
		t.Fatal(err)
	}
	barcode, qr := rows[0], rows[1] // newest first
	for _, want := range []string{"+47 ••• •• 678", "personal QR code", "held"} {
		if !strings.Contains(qr, want) {
			t.Errorf("the personal QR scan shows %q, without %q", qr, want)
		}
	}
	for _, want := range []string{"not a personal QR code", "refused", "512"} {
		if !strings.Contains(barcode, want) {
			t.Errorf("the barcode scan shows %q, without %q", barcode, want)
		}
	}
	if strings.Contains(barcode, "7038010055512") {
		t.Errorf("the barcode is shown whole: %q", barcode)
	}
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	b.noSecrets("the scan test page", http.Header{}, []byte(html))
	// The JSON behind it, over plain HTTP, holds no phone number either.
	h := b.client()
	h.signIn(password)
	if resp, body := h.do("GET", "scans.json", nil, nil); resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("678")) {
		t.Errorf("scans.json: %s %s", resp.Status, body)
	}
}

// The session cookie's flags, and the headers of every answer.
func TestCookieAndHeaders(t *testing.T) {
	b := newBox(t, false)
	h := b.client()
	resp, _ := h.do("GET", "signin", nil, nil)
	checkCookie(t, resp)
	resp, _ = h.do("GET", "static/scan.js", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("scan.js: %s", resp.Status)
	}
	for _, path := range []string{"signin", "", "static/style.css", "nowhere"} {
		resp, _ := h.do("GET", path, nil, nil)
		csp := resp.Header.Get("Content-Security-Policy")
		if csp != technician.CSP || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: headers %v", path, resp.Header)
		}
	}
	// Sign-in gives a new session id: the one from before is dropped.
	_, page := h.do("GET", "signin", nil, nil)
	before := cookieValue(h, b)
	resp, _ = h.do("POST", "signin", url.Values{"csrf": {csrf(t, page)}, "password": {password}}, nil)
	checkCookie(t, resp)
	if after := cookieValue(h, b); after == before || after == "" {
		t.Errorf("the session id did not change at sign-in")
	}
	// No page of the session without it.
	anon := b.client()
	if resp, _ := anon.do("GET", "", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("status page without a session: %s", resp.Status)
	}
	if resp, _ := anon.do("GET", "scans.json", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("scans.json without a session: %s", resp.Status)
	}
	// The session ends on the server after its idle time.
	if resp, _ := h.do("GET", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("status page: %s", resp.Status)
	}
	b.advance(31 * time.Minute)
	if resp, _ := h.do("GET", "", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("status page after 31 idle minutes: %s, want a redirect to sign-in", resp.Status)
	}
}

func checkCookie(t *testing.T, resp *http.Response) {
	t.Helper()
	cs := resp.Cookies()
	if len(cs) != 1 || cs[0].Name != technician.CookieName {
		t.Fatalf("cookies %v", cs)
	}
	c := cs[0]
	raw := resp.Header.Get("Set-Cookie")
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || !strings.Contains(raw, "SameSite=Strict") {
		t.Errorf("session cookie %q: want HttpOnly, SameSite=Strict, Path=/", raw)
	}
	if c.Secure { // over plain HTTP; TestSecureOverTLS checks TLS
		t.Errorf("session cookie %q: Secure over plain HTTP would never come back", raw)
	}
	if n := len(c.Value); n < 43 { // 256 bits in base64url
		t.Errorf("session id of %d characters", n)
	}
}

func cookieValue(h *httpClient, b *box) string {
	u, _ := url.Parse(b.url)
	for _, c := range h.c.Jar.Cookies(u) {
		if c.Name == technician.CookieName {
			return c.Value
		}
	}
	return ""
}

// Over TLS the cookie is Secure and __Host- prefixed.
func TestSecureOverTLS(t *testing.T) {
	b := newBox(t, false)
	srv := httptest.NewTLSServer(b.console.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + technician.Path + "signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs := resp.Cookies()
	if len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || !strings.HasPrefix(cs[0].Name, "__Host-") {
		t.Errorf("cookie over TLS: %q", resp.Header.Get("Set-Cookie"))
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("no HSTS over TLS")
	}
}

// Five tries a minute per client, then 429 — even with the right password;
// a minute later it may try again.
func TestSignInRateLimit(t *testing.T) {
	b := newBox(t, false)
	h := b.client()
	_, page := h.do("GET", "signin", nil, nil)
	tok := csrf(t, page)
	for i := range 5 {
		resp, _ := h.do("POST", "signin", url.Values{"csrf": {tok}, "password": {fmt.Sprintf("guess %d guess", i)}}, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("try %d: %s, want 401", i+1, resp.Status)
		}
	}
	resp, _ := h.do("POST", "signin", url.Values{"csrf": {tok}, "password": {password}}, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("sixth try: %s (Retry-After %q), want 429", resp.Status, resp.Header.Get("Retry-After"))
	}
	// Without a session or token the limit holds too: it comes first.
	if resp, _ := b.client().do("POST", "signin", url.Values{"password": {password}}, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("another cookie jar, same client: %s, want 429", resp.Status)
	}
	b.advance(time.Minute)
	h.signIn(password)
}

// Every POST needs the session's CSRF token: none, a wrong one, another
// session's, or a foreign Origin get 403; the right one works.
func TestCSRF(t *testing.T) {
	b := newBox(t, false)
	h := b.client()
	tok := h.signIn(password)
	other := b.client().signIn(password)
	wrong := "x" + tok[1:] // one character off
	if tok[0] == 'x' {
		wrong = "y" + tok[1:]
	}
	for _, path := range []string{"signout", "backup"} {
		for name, form := range map[string]url.Values{
			"no token": {}, "a wrong token": {"csrf": {wrong}}, "another session's token": {"csrf": {other}},
		} {
			if resp, _ := h.do("POST", path, form, nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s: %s, want 403", path, name, resp.Status)
			}
		}
		if resp, _ := h.do("POST", path, url.Values{"csrf": {tok}}, http.Header{"Origin": {"http://evil.example"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s from another origin: %s, want 403", path, resp.Status)
		}
	}
	// The sign-in form needs the token of its own pre-sign-in session.
	anon := b.client()
	anon.do("GET", "signin", nil, nil)
	if resp, _ := anon.do("POST", "signin", url.Values{"password": {password}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without a token: %s, want 403", resp.Status)
	}
	if resp, _ := h.do("GET", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("the refused POSTs signed the session out: %s", resp.Status)
	}
	if resp, _ := h.do("POST", "signout", url.Values{"csrf": {tok}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out with the token: %s", resp.Status)
	}
	if resp, _ := h.do("GET", "", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("status page after sign-out: %s", resp.Status)
	}
}

// The backup download is the database: it opens and holds the sale.
func TestBackupDownload(t *testing.T) {
	b := newBox(t, false)
	sale, err := b.agent.CreateSale(t.Context(), agent.SaleRequest{Amount: 12300, Currency: "NOK"})
	if err != nil {
		t.Fatal(err)
	}
	h := b.client()
	tok := h.signIn(password)
	resp, body := h.do("POST", "backup", url.Values{"csrf": {tok}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("backup: %s %v", resp.Status, resp.Header)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t, path, store.Options{NoJournal: true})
	defer db.Close()
	if err := db.Verify(); err != nil {
		t.Errorf("backup: %v", err)
	}
	err = db.View(func(tx *store.Tx) error {
		s, err := tx.Sale(sale.Reference)
		if err == nil && s.Amount != 12300 {
			err = fmt.Errorf("amount %d", s.Amount)
		}
		return err
	})
	if err != nil {
		t.Errorf("the sale in the backup: %v", err)
	}
	// Without a session: no backup.
	if resp, _ := b.client().do("POST", "backup", url.Values{"csrf": {tok}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("backup without a session: %s", resp.Status)
	}
}

// No page or answer holds a secret: every route, signed in or not, with
// sales, scans, test payments and secrets logged on the box (each answer is
// checked by httpClient.do), nor the log tail.
func TestNoSecretsAnywhere(t *testing.T) {
	b := newBox(t, false)
	b.agent.Scan(clearQR)
	if _, err := b.agent.CreateSale(t.Context(), agent.SaleRequest{Amount: 100, Currency: "NOK"}); err != nil {
		t.Fatal(err)
	}
	// The log tail holds the secrets as the log writes them (redacted).
	b.log.Info("configuration", "client_secret", epayment.Secret(clientSecret), "subscription_key", epayment.Secret(subscriptionKey),
		"webhook_secret", epayment.Secret(b.webhook))
	pages := []string{"", "scan", "scans.json", "log", "log?level=debug", "log.json", "log.json?level=debug&after=1",
		"testpay", "testpay.json", "static/style.css", "static/scan.js", "static/log.js", "static/testpay.js", "nowhere"}
	for _, h := range []*httpClient{b.client(), b.client()} {
		h.do("GET", "", nil, nil)
		h.do("GET", "signin", nil, nil)
		h.do("POST", "signin", url.Values{"password": {"wrong wrong"}}, nil)
		for _, p := range pages {
			h.do("GET", p, nil, nil)
		}
		h.do("POST", "testpay", url.Values{"phone": {clearMSN}}, nil)
	}
	h := b.client()
	tok := h.signIn(password)
	for _, p := range pages {
		h.do("GET", p, nil, nil)
	}
	h.do("POST", "backup", url.Values{"csrf": {"wrong"}}, nil)
	// A test payment to the phone number in clearQR, and a refused one:
	// the pages after them show it masked only.
	h.do("POST", "testpay", url.Values{"csrf": {tok}, "phone": {clearMSN}}, nil)
	h.do("POST", "testpay", url.Values{"csrf": {tok}, "phone": {"47 123"}}, nil)
	h.do("POST", "testpay", url.Values{"csrf": {"wrong"}, "phone": {clearMSN}}, nil)
	for _, p := range pages {
		h.do("GET", p, nil, nil)
	}
	if _, page := h.do("GET", "testpay", nil, nil); !bytes.Contains(page, []byte("47 ••• •• 678")) {
		t.Errorf("the test payment page does not show the masked number:\n%s", page)
	}
	for _, rec := range b.tail.Records(0, slog.LevelDebug) {
		for _, s := range append(b.secrets(), clearMSN) {
			if strings.Contains(rec.Message+rec.Attrs, s) {
				t.Errorf("the log tail holds a secret or a phone number: %s %s", rec.Message, rec.Attrs)
			}
		}
	}
	h.do("POST", "signout", url.Values{"csrf": {tok}}, nil)
	if bytes.Contains(b.logs.Bytes(), []byte(password)) || bytes.Contains(b.logs.Bytes(), []byte(clientSecret)) {
		t.Errorf("the log holds a secret")
	}
}

// Without a password, the one-time code signs in once; then a new code.
func TestOneTimeCode(t *testing.T) {
	b := newBox(t, true)
	code := b.console.Code()
	if len(code) != 11 {
		t.Fatalf("code %q", code)
	}
	h := b.client()
	_, page := h.do("GET", "signin", nil, nil)
	if !bytes.Contains(page, []byte("One-time code")) {
		t.Errorf("the sign-in page does not ask for the code")
	}
	h.signIn(strings.ReplaceAll(code, "-", " "))
	if next := b.console.Code(); next == code || next == "" {
		t.Errorf("the code was not replaced after use")
	}
	h2 := b.client()
	_, page = h2.do("GET", "signin", nil, nil)
	if resp, _ := h2.do("POST", "signin", url.Values{"csrf": {csrf(t, page)}, "password": {code}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the used code again: %s, want 401", resp.Status)
	}
}
