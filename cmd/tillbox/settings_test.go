package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/display/browsertest"
	"github.com/tillbox/tillbox/display/technician"
)

const (
	techPassword = "correct horse battery staple"
	// The secrets of testConfig, and the ones the tests type in.
	oldClientSecret = "client-secret-of-the-tests"
	oldSubKey       = "subscription-key-of-the-tests"
	newClientSecret = "new-client-secret-Qw7Ez4Rt"
)

// techTill is `tillbox run` in-process (runTill) with its customer display
// and technician page.
type techTill struct {
	t       *testing.T
	config  string
	data    string // box.data_dir
	pos     string
	display string
	tech    string
	hash    string // the password's hash when one is set at the start
	logs    *agenttest.Logs
}

// startTechTill runs a till against the simulator; withPassword sets the
// technician password as `tillbox passwd` does, otherwise it is a first
// boot.
func startTechTill(t *testing.T, withPassword bool) *techTill {
	t.Helper()
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Ignore}})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	dir := t.TempDir()
	tt := &techTill{t: t, config: testConfig(t, dir, simHTTP.URL, "127.0.0.1:0", ""), data: filepath.Join(dir, "data")}
	if withPassword {
		data := filepath.Join(dir, "data")
		if err := os.MkdirAll(data, 0o700); err != nil {
			t.Fatal(err)
		}
		var err error
		if tt.hash, err = technician.HashPassword(techPassword); err != nil {
			t.Fatal(err)
		}
		if err := technician.WritePasswordFile(data, tt.hash); err != nil {
			t.Fatal(err)
		}
	}
	logs, done := runTill(t, tt.config)
	tt.logs = logs
	tt.pos = waitPrinted(t, logs, done, posPrinted)
	tt.display = waitPrinted(t, logs, done, displayPrinted)
	tt.tech = waitPrinted(t, logs, done, techPrinted)
	t.Cleanup(func() {
		if tt.t.Failed() {
			return
		}
		for _, s := range tt.secrets() {
			if strings.Contains(logs.String(), s) {
				t.Errorf("the log holds a secret (%.6s…)", s)
			}
		}
	})
	return tt
}

// What `tillbox run` prints at start: the addresses.
const (
	posPrinted     = `POS API on (http://127\.0\.0\.1:\d+)/api/v1/`
	displayPrinted = `customer display on (http://127\.0\.0\.1:\d+/\S*)`
	techPrinted    = `technician page on (http://127\.0\.0\.1:\d+/\S*)`
)

// secrets are the values no answer, page or log may hold.
func (tt *techTill) secrets() []string {
	s := []string{oldClientSecret, oldSubKey, testToken, newClientSecret, techPassword}
	if tt.hash != "" {
		parts := strings.Split(tt.hash, "$")
		s = append(s, tt.hash, parts[len(parts)-1], parts[len(parts)-2])
	}
	return s
}

func (tt *techTill) noSecrets(what string, header http.Header, body []byte) {
	tt.t.Helper()
	var all bytes.Buffer
	_ = header.Write(&all)
	all.Write(body)
	for _, s := range tt.secrets() {
		if bytes.Contains(all.Bytes(), []byte(s)) {
			tt.t.Errorf("%s holds a secret (%.6s…)", what, s)
		}
	}
}

// In a browser: the settings page shows the file's settings and no
// secret; a wrong MSN is refused beside its field and nothing is written;
// a new display language and customer-present window apply at once (the
// customer display changes language), a new client secret is saved for
// the next start and never shown.
func TestBrowserSettings(t *testing.T) {
	tt := startTechTill(t, true)
	browser := browsertest.New(t)
	display, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(display, chromedp.Navigate(tt.display)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, display, "the display, idle, in English", `document.body.dataset.screen === 'idle' && document.documentElement.lang === 'en'`)

	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(tt.tech)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the sign-in page", `document.body.dataset.page === 'signin'`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#password"), techPassword), browsertest.Click("#go")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the status page", `document.body.dataset.page === 'status'`)
	if err := chromedp.Do(ctx, browsertest.Click("#nav-settings")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the settings page", `document.body.dataset.page === 'settings'`)
	tt.pageHoldsNoSecret(ctx, "the settings page")
	for id, want := range map[string]string{"environment": "simulator", "msn": "123456", "language": "en",
		"customer_present_window": "2m", "client_secret": "", "subscription_key": ""} {
		if got := browsertest.Eval[string](t, ctx, `document.getElementById('`+id+`').value`); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	if s := browsertest.Eval[string](t, ctx, `document.getElementById('client_secret-state').innerText`); s != "set, from configuration file" {
		t.Errorf("the client secret's state reads %q", s)
	}

	// A wrong MSN: refused beside the field, the file untouched.
	before, err := os.ReadFile(tt.config)
	if err != nil {
		t.Fatal(err)
	}
	// The configuration's folder is writable here; the page must not
	// write the file even so.
	backdate := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(tt.config, backdate, backdate); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#msn"), "12"), chromedp.SetValue(chromedp.CSS("#language"), "da"),
		chromedp.SetValue(chromedp.CSS("#client_secret"), newClientSecret), browsertest.Click("#save")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the MSN refused beside its field", `(() => { const p = document.querySelector('[data-for="vipps.msn"]');
		return !!p && p.previousElementSibling.id === 'msn' && p.innerText.includes('4 to 10 digits') && !!document.getElementById('not-saved'); })()`)
	tt.pageHoldsNoSecret(ctx, "the settings page with a problem")
	if after, _ := os.ReadFile(tt.config); !bytes.Equal(after, before) {
		t.Errorf("the configuration file changed although the settings were refused")
	}
	if lang := browsertest.Eval[string](t, display, `document.documentElement.lang`); lang != "en" {
		t.Errorf("the display's language changed to %s although nothing was saved", lang)
	}

	// Right values: saved; language and window live, the secret at restart.
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#msn"), "123456"), chromedp.SetValue(chromedp.CSS("#language"), "da"),
		chromedp.SetValue(chromedp.CSS("#customer_present_window"), "90s"), chromedp.SetValue(chromedp.CSS("#client_secret"), newClientSecret),
		browsertest.Click("#save")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the settings saved", `!!document.getElementById('saved')`)
	applied := browsertest.Eval[string](t, ctx, `document.getElementById('applied').innerText`)
	restart := browsertest.Eval[string](t, ctx, `document.getElementById('needs-restart').innerText`)
	if !strings.Contains(applied, "display language") || !strings.Contains(applied, "customer-present window") ||
		!strings.Contains(restart, "client secret") || strings.Contains(restart, "language") {
		t.Errorf("after saving: applied %q; restart %q", applied, restart)
	}
	if got := browsertest.Eval[string](t, ctx, `document.getElementById('customer_present_window').value`); got != "1m30s" {
		t.Errorf("the window reads %q after saving, want 1m30s", got)
	}
	tt.pageHoldsNoSecret(ctx, "the settings page after saving")
	browsertest.WaitJS(t, display, "the customer display in Danish", `document.documentElement.lang === 'da' && document.querySelector('#idle h1').innerText.startsWith('Scan din')`)

	c, err := config.Load(tt.config)
	if err != nil {
		t.Fatal(err)
	}
	if c.Display.Language != "da" || c.Sales.CustomerPresentWindow.D() != 90*time.Second ||
		c.Vipps.ClientSecret.Reveal() != newClientSecret || c.Vipps.SubscriptionKey.Reveal() != oldSubKey {
		t.Errorf("the settings hold language %s, window %s, and the secrets changed as they should: %v",
			c.Display.Language, c.Sales.CustomerPresentWindow, c.Vipps.ClientSecret.Reveal() == newClientSecret)
	}
	after, _ := os.ReadFile(tt.config)
	if fi, _ := os.Stat(tt.config); !bytes.Equal(after, before) || !fi.ModTime().Equal(backdate) {
		t.Errorf("the page wrote the configuration file (modified %v)", fi.ModTime())
	}
	if fi, err := os.Stat(c.OverlayFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the page's settings %s: %v, want mode 0600 (%v)", c.OverlayFile, fi.Mode().Perm(), err)
	}
	if s := c.SecretSource("vipps.client_secret"); s.Kind != config.FromOverlay {
		t.Errorf("the new client secret comes from %v, want the page's settings", s)
	}
	// The page says where its settings are, and which it set.
	if err := chromedp.Do(ctx, chromedp.Navigate(strings.TrimSuffix(tt.tech, "/")+"/settings")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the settings page", `document.body.dataset.page === 'settings'`)
	note := browsertest.Eval[string](t, ctx, `document.getElementById('settings-source').innerText`)
	if !strings.Contains(note, c.OverlayFile) || !strings.Contains(note, tt.config) || !strings.Contains(browsertest.Eval[string](t, ctx, `document.getElementById('from-page').innerText`), "display.language") {
		t.Errorf("the page says %q", note)
	}
	if s := browsertest.Eval[string](t, ctx, `document.getElementById('client_secret-state').innerText`); s != "set, from the technician page ("+c.OverlayFile+")" {
		t.Errorf("the client secret's state reads %q", s)
	}
}

// Over plain HTTP, every answer of the settings flow (the page, a refused
// save echoing a typed secret, a save, a restart refused while a payment
// is in flight) holds no secret; a POST without the CSRF token changes
// nothing.
func TestSettingsAnswersHoldNoSecret(t *testing.T) {
	tt := startTechTill(t, true)
	h := tt.client()
	tok := h.signIn(techPassword)
	_, page := h.do("GET", "settings", nil)
	if !bytes.Contains(page, []byte(`id="msn" name="msn" value="123456"`)) {
		t.Fatalf("the settings page:\n%s", page)
	}
	form := func(msn, window string) url.Values {
		return url.Values{"csrf": {tok}, "environment": {"simulator"}, "base_url": {tt.baseURL()}, "msn": {msn},
			"client_id": {"6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"}, "client_secret": {newClientSecret},
			"language": {"en"}, "customer_present_window": {window}}
	}
	before, _ := os.ReadFile(tt.config)
	noToken := form("123456", "3m")
	noToken.Del("csrf")
	if resp, _ := h.do("POST", "settings", noToken); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST settings without the CSRF token: %s", resp.Status)
	}
	if resp, body := h.do("POST", "settings", form("123456", "an hour")); resp.StatusCode != http.StatusUnprocessableEntity ||
		!bytes.Contains(body, []byte(`data-for="sales.customer_present_window"`)) {
		t.Errorf("POST settings with a bad window: %s\n%s", resp.Status, body)
	}
	if after, _ := os.ReadFile(tt.config); !bytes.Equal(before, after) {
		t.Error("a refused or forged POST changed the configuration file")
	}
	if resp, body := h.do("POST", "settings", form("123456", "3m")); resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`id="saved"`)) ||
		bytes.Contains(body, []byte(`id="udev-note"`)) {
		t.Errorf("POST settings: %s\n%s", resp.Status, body)
	}
	// A new scanner: saved, for the next start, and the udev rules must
	// follow (install.sh, as root): the page says so.
	withScanner := form("123456", "3m")
	withScanner.Set("scanner0_name", "counter")
	withScanner.Set("scanner0_driver", "serial")
	withScanner.Set("scanner0_match", "0c2e:0b61")
	if resp, body := h.do("POST", "settings", withScanner); resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`id="udev-note"`)) {
		t.Errorf("POST settings with a new scanner: %s\n%s", resp.Status, body)
	}

	// A sale waits for the customer: restart asks first.
	pos := &posapi.Client{BaseURL: tt.pos, Token: testToken}
	sale, _, err := pos.CreateSale(t.Context(), agent.SaleRequest{Amount: 1000, Currency: "NOK"})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := h.do("POST", "restart", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusConflict || !bytes.Contains(body, []byte(sale.Reference)) || !bytes.Contains(body, []byte(`id="restart-anyway"`)) {
		t.Errorf("POST restart with a payment in flight: %s\n%s", resp.Status, body)
	}
	if resp, _ := h.do("POST", "restart", url.Values{"confirm": {"yes"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST restart without the CSRF token: %s", resp.Status)
	}
	// Still serving: nothing restarted.
	if resp, _ := h.do("GET", "settings", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET settings after the refused restarts: %s", resp.Status)
	}
}

// First boot: no password. The one-time code is in the data folder's
// file, never on the customer display; it signs in, and the page then
// insists on a password (twice, long enough). Once set, the code's file is
// gone, the code no longer signs in, the password does, and the password
// file holds its hash.
func TestBrowserFirstBoot(t *testing.T) {
	tt := startTechTill(t, false)
	configBefore, err := os.ReadFile(tt.config)
	if err != nil {
		t.Fatal(err)
	}
	browser := browsertest.New(t)
	display, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(display, chromedp.Navigate(tt.display)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, display, "the display, idle", `document.body.dataset.screen === 'idle'`)
	code := tt.codeInFile()
	if shown := browsertest.Eval[string](t, display, `document.documentElement.outerHTML`); strings.Contains(shown, code) {
		t.Errorf("the customer display shows the one-time code")
	}
	if strings.Contains(tt.logs.String(), code) {
		t.Error("the log holds the one-time code")
	}

	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(tt.tech)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the sign-in page, with a code", `document.body.dataset.page === 'signin' && document.querySelector('label[for=password]').innerText.startsWith('One-time code')`)
	if hint := browsertest.Eval[string](t, ctx, `document.getElementById('nopassword').innerText`); !strings.Contains(hint, "sudo tillbox passwd") || !strings.Contains(hint, filepath.Join(tt.data, technician.CodeFile)) {
		t.Errorf("the sign-in page says %q: not where the code is", hint)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#password"), code), browsertest.Click("#go")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the password page", `document.body.dataset.page === 'password'`)
	// The code rotated: the file holds the next one.
	if next := tt.codeInFile(); next == code {
		t.Errorf("the code's file still holds the used code")
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(strings.TrimSuffix(tt.tech, "/")+"/settings")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the password page, not the settings", `document.body.dataset.page === 'password'`)
	for _, try := range []struct{ a, b, problem string }{
		{techPassword, techPassword + "x", "differ"},
		{"short", "short", "at least"},
	} {
		// Past the browser's own minlength check: the server's is tested.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelectorAll('[minlength]').forEach(e => e.removeAttribute('minlength')), true`)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#new-password"), try.a), chromedp.SendKeys(chromedp.CSS("#again"), try.b), browsertest.Click("#set")); err != nil {
			t.Fatal(err)
		}
		browsertest.WaitJS(t, ctx, "the password refused", `!!document.getElementById('problem') && document.getElementById('problem').innerText.includes('`+try.problem+`')`)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#new-password"), techPassword), chromedp.SendKeys(chromedp.CSS("#again"), techPassword), browsertest.Click("#set")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the password set", `!!document.getElementById('password-set')`)
	if _, err := os.Stat(filepath.Join(tt.data, technician.CodeFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the code's file is still there once the password is set (%v)", err)
	}
	if err := chromedp.Do(ctx, browsertest.Click("#continue")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the status page", `document.body.dataset.page === 'status'`)

	// The hash goes to the data folder (the service's), as tillbox
	// passwd's; the configuration file is not written.
	c, err := config.Load(tt.config)
	if err != nil {
		t.Fatal(err)
	}
	if c.Console.PasswordHash != "" {
		t.Errorf("the configuration holds a password hash, from %v", c.SecretSource("console.password_hash"))
	}
	if tt.hash, err = technician.ReadPasswordFile(c.Box.DataDir); err != nil || technician.CheckPassword(tt.hash, techPassword) != nil {
		t.Fatalf("the data folder's password file does not check the password (%v)", err)
	}
	if after, _ := os.ReadFile(tt.config); !bytes.Equal(after, configBefore) {
		t.Error("the first boot wrote the configuration file")
	}
	tt.pageHoldsNoSecret(ctx, "the status page")

	// The code no longer signs in; the password does.
	h := tt.client()
	_, page := h.do("GET", "signin", nil)
	if bytes.Contains(page, []byte("One-time code")) {
		t.Error("the sign-in page still asks for a code")
	}
	resp, _ := h.do("POST", "signin", url.Values{"csrf": {csrfOf(t, page)}, "password": {code}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign-in with the used code: %s", resp.Status)
	}
	h.signIn(techPassword)
}

func (tt *techTill) baseURL() string {
	c, err := config.Load(tt.config)
	if err != nil {
		tt.t.Fatal(err)
	}
	return c.Vipps.BaseURL
}

// pageHoldsNoSecret checks the page's source in the browser.
func (tt *techTill) pageHoldsNoSecret(ctx context.Context, what string) {
	tt.t.Helper()
	html := browsertest.Eval[string](tt.t, ctx, `document.documentElement.outerHTML`)
	tt.noSecrets(what, http.Header{}, []byte(html))
}

// techClient is an HTTP client of the technician page with its own
// cookies; it checks every answer for secrets.
type techClient struct {
	tt *techTill
	c  *http.Client
}

func (tt *techTill) client() *techClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		tt.t.Fatal(err)
	}
	return &techClient{tt: tt, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (h *techClient) do(method, path string, form url.Values) (*http.Response, []byte) {
	t := h.tt.t
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.tt.tech+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := h.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	h.tt.noSecrets(method+" "+path, resp.Header, data)
	return resp, data
}

var csrfInPage = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page []byte) string {
	t.Helper()
	m := csrfInPage.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return string(m[1])
}

// writeTechPassword sets the technician password of the box in dir (its
// data folder dir/data, as testConfig has it) as `tillbox passwd` would,
// and returns its hash.
func writeTechPassword(t *testing.T, dir, password string) string {
	t.Helper()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	hash, err := technician.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := technician.WritePasswordFile(data, hash); err != nil {
		t.Fatal(err)
	}
	return hash
}

// signIn signs in and returns the session's CSRF token.
func (h *techClient) signIn(password string) string {
	t := h.tt.t
	t.Helper()
	_, page := h.do("GET", "signin", nil)
	resp, _ := h.do("POST", "signin", url.Values{"csrf": {csrfOf(t, page)}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %s", resp.Status)
	}
	resp, page = h.do("GET", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the status page after sign-in: %s", resp.Status)
	}
	return csrfOf(t, page)
}

// With a password set by `tillbox passwd`, changing it on the page needs
// the current one (wrong guesses count against the sign-in limit), and
// the new one goes to the same file: it signs in, the old one not.
func TestPasswordChange(t *testing.T) {
	tt := startTechTill(t, true)
	h := tt.client()
	tok := h.signIn(techPassword)
	const next = "a brand new technician password"
	change := func(current string) (*http.Response, []byte) {
		return h.do("POST", "password", url.Values{"csrf": {tok}, "current": {current}, "password": {next}, "again": {next}})
	}
	if resp, body := change("not the password"); resp.StatusCode != http.StatusUnauthorized || !bytes.Contains(body, []byte("current password is wrong")) {
		t.Errorf("a wrong current password: %s\n%s", resp.Status, body)
	}
	if resp, body := change(techPassword); resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`id="password-set"`)) {
		t.Fatalf("the password change: %s\n%s", resp.Status, body)
	}
	data := filepath.Join(filepath.Dir(tt.config), "data")
	hash, err := technician.ReadPasswordFile(data)
	if err != nil || technician.CheckPassword(hash, next) != nil {
		t.Errorf("the data directory's password file does not hold the new password's hash (%v)", err)
	}
	if c, err := config.Load(tt.config); err != nil || c.Console.PasswordHash != "" {
		t.Errorf("the configuration got a password hash (%v)", err)
	}
	anon := tt.client()
	_, page := anon.do("GET", "signin", nil)
	if resp, _ := anon.do("POST", "signin", url.Values{"csrf": {csrfOf(t, page)}, "password": {techPassword}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old password after the change: %s", resp.Status)
	}
	tt.client().signIn(next)
	// Guessing the current password is limited as sign-in is (5 a minute).
	var last int
	for range 6 {
		resp, _ := change("guess")
		last = resp.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("the 6th wrong current password in a minute: %d, want 429", last)
	}
}
