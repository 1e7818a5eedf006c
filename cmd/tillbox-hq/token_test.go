package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/display/browsertest"
	"github.com/tillbox/tillbox/display/technician"
)

// The sales units of the token broker's test: oslo's (its tills only),
// bergen's (every store), one whose secret Vipps MobilePay refuses, one
// whose token call fails, and one without credentials at headquarters.
const (
	osloMSN, bergenMSN, refusedMSN, downMSN, bareMSN = testMSN, "223456", "323456", "423456", "523456"
	osloID                                           = "0a000000-0000-4000-8000-000000000001"
	bergenID                                         = "0a000000-0000-4000-8000-000000000002"
	refusedID                                        = "0a000000-0000-4000-8000-000000000003"
	downID                                           = "0a000000-0000-4000-8000-000000000004"
)

// portal plays the business portal in front of the simulator: it decides
// which client secret and subscription key of each client id the token
// call takes (a rotation changes them; the simulator pins one set), and
// which client ids' token calls fail with 503. Every other call goes to
// the simulator untouched.
type portal struct {
	sim  *sim.Server
	mu   sync.Mutex
	keys map[string][2]string // client id → secret, subscription key
	down map[string]bool
}

func (p *portal) set(id, secret, subKey string) {
	p.mu.Lock()
	p.keys[id] = [2]string{secret, subKey}
	p.mu.Unlock()
}

func (p *portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/accesstoken/get" {
		id := r.Header.Get("client_id")
		p.mu.Lock()
		k, known := p.keys[id]
		down := p.down[id]
		p.mu.Unlock()
		same := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
		switch {
		case down:
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		case !known || !same(k[0], r.Header.Get("client_secret")) || !same(k[1], r.Header.Get("Ocp-Apim-Subscription-Key")):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = fmt.Fprint(w, `{"error":"unauthorized_client","error_description":"Invalid client_id or client_secret."}`)
			return
		}
	}
	p.sim.ServeHTTP(w, r)
}

// tokenRig is the broker's world: PostgreSQL, nats-server (TLS, a user per
// box), the simulator behind the portal on loopback, and tillbox-hq as a
// process.
type tokenRig struct {
	dir      string // headquarters' configuration folder
	vipps    string // the simulator's URL
	portal   *portal
	ns       *chainNATS
	hq       *hqProcess
	url      string
	secrets  []string // every secret headquarters holds, old and new
	firehose *syncBuffer
	boxes    map[wire.Till]*nats.Conn
	errs     map[wire.Till]*syncBuffer // each box connection's asynchronous errors
	pgDSN    string
	pages    []string // what the fleet page showed
}

var (
	osloT1, osloT2, bergenT1 = tillOf("oslo", "t1"), tillOf("oslo", "t2"), tillOf("bergen", "t1")
)

func startTokenRig(t *testing.T, password string) *tokenRig {
	t.Helper()
	r := &tokenRig{boxes: map[wire.Till]*nats.Conn{}, errs: map[wire.Till]*syncBuffer{}, firehose: &syncBuffer{}}
	s := sim.New(sim.Options{})
	t.Cleanup(func() { _ = s.Close() })
	r.portal = &portal{sim: s, keys: map[string][2]string{}, down: map[string]bool{downID: true}}
	r.portal.set(osloID, "oslo-client-secret-1", "oslo-subscription-key")
	r.portal.set(bergenID, "bergen-client-secret", "bergen-subscription-key")
	r.portal.set(refusedID, "the-secret-vipps-knows", "refused-subscription-key")
	srv := httptest.NewServer(r.portal)
	t.Cleanup(srv.Close)
	r.vipps = srv.URL

	pg := startPG(t)
	r.pgDSN = pg.DSN()
	r.ns = startNATS(t, osloT1, osloT2, bergenT1)
	hash, err := technician.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, pg.DSN(), r.ns, 1, fmt.Sprintf(`client_id = %q
client_secret_file = "oslo-cs"
subscription_key_file = "oslo-sk"
stores = ["oslo"]

[vipps]
base_url = %q

[[unit]]
msn = %q
webhook_url = "https://hq.acme.example/webhooks/vipps/%[3]s"
webhook_secret_file = "hook"
client_id = %q
client_secret_file = "bergen-cs"
subscription_key_file = "bergen-sk"

[[unit]]
msn = %q
webhook_url = "https://hq.acme.example/webhooks/vipps/%[5]s"
webhook_secret_file = "hook"
client_id = %q
client_secret_file = "refused-cs"
subscription_key_file = "refused-sk"

[[unit]]
msn = %q
webhook_url = "https://hq.acme.example/webhooks/vipps/%[7]s"
webhook_secret_file = "hook"
client_id = %q
client_secret_file = "down-cs"
subscription_key_file = "down-sk"

[[unit]]
msn = %q
webhook_url = "https://hq.acme.example/webhooks/vipps/%[9]s"
webhook_secret_file = "hook"

[[user]]
name = "ops"
password_hash = %q
`, osloID, r.vipps, bergenMSN, bergenID, refusedMSN, refusedID, downMSN, downID, bareMSN, hash))
	r.dir = filepath.Dir(path)
	for name, v := range map[string]string{"oslo-cs": "oslo-client-secret-1", "oslo-sk": "oslo-subscription-key",
		"bergen-cs": "bergen-client-secret", "bergen-sk": "bergen-subscription-key",
		"refused-cs": "a-secret-vipps-does-not-know", "refused-sk": "refused-subscription-key",
		"down-cs": "down-client-secret", "down-sk": "down-subscription-key"} {
		r.writeSecret(t, name, v)
	}
	r.secrets = append(r.secrets, "oslo-client-secret-2", r.ns.one.HQ().Password, testSecret)

	// Everything on the NATS servers, as headquarters' user sees it.
	hqnc, _ := r.ns.hqClient(t)
	if _, err := hqnc.Subscribe(">", func(m *nats.Msg) {
		_, _ = fmt.Fprintf(r.firehose, "%s %v %s\n", m.Subject, m.Header, m.Data)
	}); err != nil {
		t.Fatal(err)
	}
	for _, till := range []wire.Till{osloT1, osloT2, bergenT1} {
		errs := &syncBuffer{}
		r.errs[till] = errs
		r.boxes[till] = r.ns.one.Connect(t, r.ns.urls, r.ns.one.Box(till),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { _, _ = fmt.Fprintln(errs, err) }))
	}

	r.hq = startHQProcess(t, path)
	addr := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	waitFor(t, time.Minute, "tillbox-hq listening", func() bool { return addr.MatchString(r.hq.out.String()) })
	r.url = addr.FindStringSubmatch(r.hq.out.String())[1]
	waitFor(t, time.Minute, "tillbox-hq ready", func() bool { code, _ := get(t, r.url+"/readyz"); return code == http.StatusOK })
	waitFor(t, time.Minute, "the token broker answering", func() bool { return strings.Contains(r.hq.out.String(), "token broker answering") })
	return r
}

func (r *tokenRig) writeSecret(t *testing.T, name, v string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, name), []byte(v+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	r.secrets = append(r.secrets, v)
}

// ask requests till's token for msn as the box does, on its own
// connection (its own inbox).
func (r *tokenRig) ask(t *testing.T, till wire.Till, msn string, after time.Time) wire.TokenReply {
	t.Helper()
	req, _ := json.Marshal(wire.TokenRequest{MSN: msn, After: after})
	m, err := r.boxes[till].Request(till.TokenSubject(), req, 30*time.Second)
	if err != nil {
		t.Fatalf("%s asking for %s's token: %v", till, msn, err)
	}
	var rep wire.TokenReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		t.Fatal(err)
	}
	if err := rep.Check(msn, time.Now()); err != nil {
		t.Fatalf("reply: %v", err)
	}
	return rep
}

// pay creates a payment with token at the simulator and reads it back:
// the HTTP statuses of both.
func (r *tokenRig) pay(t *testing.T, token, msn, subKey, reference string) (created, got int) {
	t.Helper()
	call := func(method, path, body string) int {
		req, err := http.NewRequest(method, r.vipps+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Ocp-Apim-Subscription-Key", subKey)
		req.Header.Set("Merchant-Serial-Number", msn)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", reference)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res.StatusCode
	}
	created = call(http.MethodPost, "/epayment/v1/payments", fmt.Sprintf(`{"amount":{"currency":"NOK","value":1000},`+
		`"paymentMethod":{"type":"WALLET"},"reference":%q,"userFlow":"QR","customerInteraction":"CUSTOMER_PRESENT"}`, reference))
	return created, call(http.MethodGet, "/epayment/v1/payments/"+reference, "")
}

// TestTokenBroker: a box asking with its own NATS user gets its unit's
// token (valid at the simulator), a store not allowed and a unit without
// credentials get not_allowed, refused and failing credentials say so, a
// box reads no other box's reply nor asks as another; after a rotation of
// the client secret and SIGHUP the new tokens come from the new secret
// and the old ones still work; the fleet page says where each till's token
// comes from and warns of one running out with none at headquarters; and
// no secret is in any NATS message, log, page or PostgreSQL.
func TestTokenBroker(t *testing.T) {
	const password = "ops-password-for-tokens"
	r := startTokenRig(t, password)
	var tokens []string // every token handed out

	var first wire.TokenReply
	t.Run("unit's token", func(t *testing.T) {
		first = r.ask(t, osloT1, osloMSN, time.Time{})
		if first.Code != "" {
			t.Fatalf("oslo/t1 got %q: %s", first.Code, first.Message)
		}
		if left := time.Until(first.ExpiresAt); left < 50*time.Minute || left > time.Hour+time.Minute {
			t.Fatalf("the test environment's token lives an hour; this one %s", left)
		}
		tokens = append(tokens, first.Token)
		if c, g := r.pay(t, first.Token, osloMSN, "oslo-subscription-key", "oslo-t1-tok-1"); c != http.StatusCreated || g != http.StatusOK {
			t.Fatalf("the token at the simulator: create %d, get %d", c, g)
		}
		again := r.ask(t, osloT2, osloMSN, time.Time{})
		if again.Token != first.Token {
			t.Fatalf("a second till of the store got another token: the cache is not shared")
		}
		b := r.ask(t, bergenT1, bergenMSN, time.Time{})
		if b.Code != "" || b.Token == first.Token {
			t.Fatalf("bergen's own unit: %+v", b.Code)
		}
		tokens = append(tokens, b.Token)
	})

	t.Run("not allowed, refused, unavailable", func(t *testing.T) {
		for _, c := range []struct {
			till     wire.Till
			msn      string
			code, in string
		}{
			{bergenT1, osloMSN, wire.TokenNotAllowed, "store bergen may not use sales unit " + osloMSN},
			{osloT1, bareMSN, wire.TokenNotAllowed, "no credentials"},
			{osloT1, "999999", wire.TokenNotAllowed, "no credentials"},
			{osloT1, refusedMSN, wire.TokenRefused, "refuses headquarters' credentials"},
			{osloT1, downMSN, wire.TokenUnavailable, "ask again later"},
		} {
			rep := r.ask(t, c.till, c.msn, time.Time{})
			if rep.Code != c.code || !strings.Contains(rep.Message, c.in) || rep.Token != "" {
				t.Errorf("%s asking for %s: %q %q, want %q with %q", c.till, c.msn, rep.Code, rep.Message, c.code, c.in)
			}
		}
	})

	t.Run("a box reads only its own replies", func(t *testing.T) {
		a, errs := r.boxes[osloT1], r.errs[osloT1]
		spy, err := a.SubscribeSync(osloT2.InboxPrefix() + ".>")
		if err != nil {
			t.Fatal(err)
		}
		// A asks on B's subject: the server refuses the publish.
		req, _ := json.Marshal(wire.TokenRequest{MSN: osloMSN})
		if _, err := a.Request(osloT2.TokenSubject(), req, 2*time.Second); err == nil {
			t.Fatalf("oslo/t1 got an answer on oslo/t2's token subject")
		}
		waitFor(t, 10*time.Second, "both permission violations", func() bool {
			s := errs.String()
			return strings.Contains(s, "Permissions Violation for Subscription to \""+osloT2.InboxPrefix()) &&
				strings.Contains(s, "Permissions Violation for Publish to \""+osloT2.TokenSubject())
		})
		rep := r.ask(t, osloT2, osloMSN, time.Time{}) // B's own request and reply
		if rep.Code != "" {
			t.Fatalf("oslo/t2: %q", rep.Code)
		}
		if err := a.Flush(); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := spy.Pending(); n != 0 {
			t.Fatalf("oslo/t1 read %d of oslo/t2's replies", n)
		}
	})

	t.Run("a refused token is replaced", func(t *testing.T) {
		if err := r.postSim("/sim/tokens/revoke"); err != nil {
			t.Fatal(err)
		}
		if c, _ := r.pay(t, first.Token, osloMSN, "oslo-subscription-key", "oslo-t1-tok-2"); c != http.StatusUnauthorized {
			t.Fatalf("a revoked token: %d", c)
		}
		rep := r.ask(t, osloT1, osloMSN, first.ExpiresAt)
		if rep.Code != "" || rep.Token == first.Token {
			t.Fatalf("after a refusal: code %q, same token %v", rep.Code, rep.Token == first.Token)
		}
		tokens = append(tokens, rep.Token)
		if c, g := r.pay(t, rep.Token, osloMSN, "oslo-subscription-key", "oslo-t1-tok-3"); c != http.StatusCreated || g != http.StatusOK {
			t.Fatalf("the new token: create %d, get %d", c, g)
		}
		first = rep
	})

	t.Run("rotation", func(t *testing.T) {
		// The portal takes only the new secret now; headquarters is told
		// by its file and a SIGHUP; the tills are not touched.
		r.portal.set(osloID, "oslo-client-secret-2", "oslo-subscription-key")
		r.writeSecret(t, "oslo-cs", "oslo-client-secret-2")
		if err := r.hq.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the reload", func() bool { return strings.Contains(r.hq.out.String(), "reload: the sales units' token credentials") })
		rep := r.ask(t, osloT1, osloMSN, time.Time{})
		if rep.Code != "" || rep.Token == first.Token {
			t.Fatalf("after the rotation: code %q %s, same token %v", rep.Code, rep.Message, rep.Token == first.Token)
		}
		tokens = append(tokens, rep.Token)
		if c, g := r.pay(t, rep.Token, osloMSN, "oslo-subscription-key", "oslo-t1-tok-4"); c != http.StatusCreated || g != http.StatusOK {
			t.Fatalf("the new secret's token: create %d, get %d", c, g)
		}
		if _, g := r.pay(t, first.Token, osloMSN, "oslo-subscription-key", "oslo-t1-tok-3"); g != http.StatusOK {
			t.Fatalf("a token handed out before the rotation no longer works: %d", g)
		}
	})

	t.Run("fleet page and metrics", func(t *testing.T) {
		r.checkPage(t, password)
		_, body := get(t, r.url+"/metrics")
		for _, w := range []string{`tillbox_hq_token_requests_total{result="ok"}`, `tillbox_hq_token_requests_total{result="not_allowed"} 3`,
			`tillbox_hq_token_requests_total{result="refused"} 1`, `tillbox_hq_token_requests_total{result="unavailable"} 1`} {
			if !strings.Contains(body, w) {
				t.Errorf("/metrics lacks %s", w)
			}
		}
		r.checkNoSecrets(t, tokens, body)
	})
}

func (r *tokenRig) postSim(path string) error {
	res, err := http.Post(r.vipps+path, "application/json", nil)
	if err != nil {
		return err
	}
	_ = res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", path, res.Status)
	}
	return nil
}

// checkPage: heartbeats say oslo/t1's token is headquarters' (fine) and
// bergen/t1's, of the refused unit, runs out in 20 minutes (warned of);
// oslo/t2 holds its own.
func (r *tokenRig) checkPage(t *testing.T, password string) {
	t.Helper()
	now := time.Now()
	for till, hb := range map[wire.Till]wire.Heartbeat{
		osloT1:   {MSN: osloMSN, TokenSource: wire.TokenFromHQ, TokenExpires: now.Add(20 * time.Minute)},
		osloT2:   {MSN: osloMSN, TokenSource: wire.TokenFromBox, TokenExpires: now.Add(50 * time.Minute)},
		bergenT1: {MSN: refusedMSN, TokenSource: wire.TokenFromHQ, TokenExpires: now.Add(20 * time.Minute)},
	} {
		hb.Till, hb.At, hb.Version, hb.Online, hb.ReferencePrefix = till, now, "test", true, till.Store+"-"+till.Till
		if err := r.boxes[till].Publish(till.HeartbeatSubject(), hb.Marshal()); err != nil {
			t.Fatal(err)
		}
	}
	tab := loginBrowser(t, r.url, "ops", password)
	if err := chromedp.Do(tab, chromedp.Navigate(r.url+"/")); err != nil {
		t.Fatal(err)
	}
	tokenOf := func(till wire.Till) string {
		return fmt.Sprintf(`(document.getElementById(%q)?.querySelector('dd.token')?.innerText || '')`, till.Store+"/"+till.Till)
	}
	browsertest.WaitJS(t, tab, "every till's token on the page", tokenOf(osloT1)+` !== '' && `+tokenOf(osloT2)+` !== '' && `+tokenOf(bergenT1)+` !== ''`)
	shown := map[wire.Till]string{}
	for _, till := range []wire.Till{osloT1, osloT2, bergenT1} {
		shown[till] = browsertest.Eval[string](t, tab, tokenOf(till))
	}
	if s := shown[osloT1]; !strings.HasPrefix(s, "from headquarters, until ") || strings.Contains(s, "headquarters has none") {
		t.Errorf("oslo/t1: %q", s)
	}
	if s := shown[osloT2]; !strings.HasPrefix(s, "the box's own secret, until ") {
		t.Errorf("oslo/t2: %q", s)
	}
	if s := shown[bergenT1]; !strings.Contains(s, "its token runs out within the hour and headquarters has none for it: Vipps MobilePay refuses headquarters' credentials for sales unit "+refusedMSN) {
		t.Errorf("bergen/t1: %q", s)
	}
	r.pages = append(r.pages, browsertest.Eval[string](t, tab, `document.documentElement.outerHTML`))
}

// checkNoSecrets: no client secret, subscription key or other secret of
// headquarters in any NATS message, headquarters' log, the pages,
// /metrics or PostgreSQL; the tokens only in the replies on the boxes'
// inboxes.
func (r *tokenRig) checkNoSecrets(t *testing.T, tokens []string, metrics string) {
	t.Helper()
	db := pgConn(t, r.pgDSN)
	var tables []string
	rows, err := db.Query(context.Background(), `SELECT quote_ident(table_name) FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	var dump strings.Builder
	for _, name := range tables {
		var text *string
		if err := db.QueryRow(context.Background(), `SELECT string_agg(t::text, E'\n') FROM `+name+` t`).Scan(&text); err != nil {
			t.Fatal(err)
		}
		if text != nil {
			dump.WriteString(*text)
		}
	}
	if !strings.Contains(dump.String(), "tokenSource") {
		t.Fatalf("the PostgreSQL dump has no heartbeat: %d tables", len(tables))
	}
	var outside strings.Builder // the NATS messages but the boxes' inbox replies
	for line := range strings.SplitSeq(r.firehose.String(), "\n") {
		if !strings.HasPrefix(line, "_INBOX_") {
			outside.WriteString(line + "\n")
		}
	}
	places := map[string]string{"headquarters' log": r.hq.out.String(), "PostgreSQL": dump.String(),
		"the fleet page": strings.Join(r.pages, "\n"), "/metrics": metrics}
	for what, text := range places {
		for _, s := range append(r.secrets, tokens...) {
			if strings.Contains(text, s) {
				t.Errorf("a secret or token is in %s", what)
			}
		}
	}
	for _, s := range r.secrets {
		if strings.Contains(r.firehose.String(), s) {
			t.Errorf("a secret is in a NATS message")
		}
	}
	for _, tok := range tokens {
		if strings.Contains(outside.String(), tok) {
			t.Errorf("a token is in a NATS message other than a box's reply")
		}
		if !strings.Contains(r.firehose.String(), tok) {
			t.Errorf("the firehose missed a reply: it does not see everything")
		}
	}
}
