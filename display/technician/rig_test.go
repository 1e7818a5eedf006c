package technician_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/classify"
	"github.com/tillbox/tillbox/display/technician"
	"github.com/tillbox/tillbox/store"
)

const (
	clearQR   = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"
	clearMSN  = "4712345678" // the phone number in clearQR: never on a page
	testMSN   = "123456"
	testCliID = "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"
	password  = "correct horse battery"
	// Secrets with values a test can look for in every answer.
	clientSecret    = "cs-Zq81vX0pTL4secretvalue"
	subscriptionKey = "sk-9f8e7d6c5b4a39281706"
)

// box is a till box on loopback: the till of agent/agenttest (a real bbolt
// file, the agent against the simulator) and the technician page over real
// HTTP. The test's clock
// drives sign-in limits and sessions.
type box struct {
	t       *testing.T
	agent   *agent.Agent
	db      *store.DB
	console *technician.Console
	url     string // of the technician page
	hash    string
	webhook string // the webhook secret
	logs    *agenttest.Logs
	sim     *sim.Server
	tail    *technician.LogTail // the log's tail, on the log page
	opts    technician.Options  // the console's
	log     *slog.Logger        // the box's log
	simURL  string

	mu  sync.Mutex
	now time.Time
}

func (b *box) clock() time.Time { b.mu.Lock(); defer b.mu.Unlock(); return b.now }
func (b *box) advance(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.now = b.now.Add(d)
}

// newBox starts a box; with noPassword the page signs in with a one-time
// code.
func newBox(t *testing.T, noPassword bool) *box {
	t.Helper()
	return newBoxWith(t, noPassword, sim.Options{App: sim.AppPolicy{Action: sim.Ignore}})
}

// newBoxWith starts a box whose simulator has so.
func newBoxWith(t *testing.T, noPassword bool, so sim.Options) *box {
	t.Helper()
	b := &box{t: t, logs: agenttest.NewLogs(), now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	t.Cleanup(func() { // last, once everything stopped
		if lines := b.logs.Lines(clearMSN); len(lines) > 0 {
			t.Errorf("the log holds the customer's phone number:\n%s", strings.Join(lines, "\n"))
		}
	})
	b.tail = technician.NewLogTail(0, 0)
	log := slog.New(b.tail.Handler(b.logs.Handler()))
	b.webhook = "wh-secret-Xy7Qk2Lm9Np4Rs"
	personalQR := classify.Default()
	k := agenttest.New(t, agenttest.Options{Sim: so, Logs: b.logs, Logger: log,
		Vipps: epayment.Config{ClientID: testCliID, ClientSecret: clientSecret, SubscriptionKey: subscriptionKey, MSN: testMSN},
		Agent: agent.Options{Till: "till1", MSN: testMSN, Currency: epayment.NOK,
			WebhookURL: "http://127.0.0.1:1/webhooks/vipps", WebhookSecret: epayment.Secret(b.webhook),
			CheckScan: func(code string) error { _, err := personalQR.Classify(code); return err },
			PollDelay: 100 * time.Millisecond, PollEvery: 200 * time.Millisecond}}) // test payments follow quickly
	b.sim, b.simURL, b.log, b.db, b.agent = k.Sim, k.SimURL, log, k.DB, k.Agent
	client := k.Vipps
	var err error
	if !noPassword {
		if b.hash, err = technician.HashPassword(password); err != nil {
			t.Fatal(err)
		}
	}
	b.opts = technician.Options{Agent: b.agent, DB: b.db, Classify: personalQR, Log: b.tail, Vipps: client, TestPayments: true,
		Scanners: func() []device.Status {
			return []device.Status{{Name: "counter", Driver: "serial", Match: "/dev/ttyACM0", Mode: "9600 baud, CR",
				Connected: true, Path: "/dev/ttyACM0", Reconnects: 2}}
		},
		Version: "v1.2.3-test", Started: b.clock(), Now: b.clock, PasswordHash: b.hash, Logger: log.With("part", "technician")}
	b.console, err = technician.New(b.opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(technician.Path, b.console.Handler())
	srv := httptest.NewServer(mux)
	b.url = srv.URL + technician.Path

	t.Cleanup(func() {
		srv.Close()
		b.console.Close()
	})
	return b
}

// secrets are the values that must never be in an answer.
func (b *box) secrets() []string {
	s := []string{clientSecret, subscriptionKey, b.webhook, password}
	if b.hash != "" {
		parts := strings.Split(b.hash, "$")
		s = append(s, b.hash, parts[len(parts)-1], parts[len(parts)-2])
	}
	return s
}

// httpClient is a plain HTTP client with its own cookies that does not
// follow redirects, and checks every answer for secrets.
type httpClient struct {
	b *box
	c *http.Client
}

func (b *box) client() *httpClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return &httpClient{b: b, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request and returns the answer with its body read, after
// checking that neither headers nor body hold a secret.
func (h *httpClient) do(method, path string, form url.Values, header http.Header) (*http.Response, []byte) {
	h.b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.b.url+strings.TrimPrefix(path, "/"), body)
	if err != nil {
		h.b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := h.c.Do(req)
	if err != nil {
		h.b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.b.t.Fatal(err)
	}
	h.b.noSecrets(method+" "+path, resp.Header, data)
	return resp, data
}

func (b *box) noSecrets(what string, header http.Header, body []byte) {
	b.t.Helper()
	var all bytes.Buffer
	_ = header.Write(&all)
	all.Write(body)
	for _, s := range append(b.secrets(), clearMSN) {
		if bytes.Contains(all.Bytes(), []byte(s)) {
			b.t.Errorf("%s: the answer holds a secret or a phone number (%.6s…)", what, s)
		}
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token in a page.
func csrf(t *testing.T, page []byte) string {
	t.Helper()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return string(m[1])
}

// signIn signs h in with secret and returns the status page's CSRF token.
func (h *httpClient) signIn(secret string) string {
	t := h.b.t
	t.Helper()
	_, page := h.do("GET", "signin", nil, nil)
	resp, _ := h.do("POST", "signin", url.Values{"csrf": {csrf(t, page)}, "password": {secret}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != technician.Path {
		t.Fatalf("sign-in: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, page = h.do("GET", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status page after sign-in: %s", resp.Status)
	}
	return csrf(t, page)
}
