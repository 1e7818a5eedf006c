package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo/fleetdemotest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
	"github.com/tillbox/tillbox/display/technician"
)

// brokerTokenLife is the simulator's token life in the broker's end-to-end
// test: headquarters is down for longer than that.
const brokerTokenLife = 20 * time.Second

// brokerChain is a chain whose boxes hold no client secret: PostgreSQL,
// nats-server (TLS, a user per box), tillbox-hq as a process holding the
// sales units' keys, the simulator with short-lived tokens and `tillbox
// run` boxes (fleetdemo with Broker). Everything on NATS is recorded as
// headquarters' user sees it, from before the chain starts.
type brokerChain struct {
	c        *fleetdemo.Chain
	pg       *pgtest.Postgres
	js       jetstream.JetStream
	firehose *syncBuffer // every NATS message: subject, header, data

	mu     sync.Mutex
	tokens []string // the tokens in the broker's replies

	web   *http.Client // signed in to the fleet page
	pages []string     // what the fleet page and its API showed
}

func startBrokerChain(t *testing.T, stores []fleetdemo.Store, password string) *brokerChain {
	t.Helper()
	hash, err := technician.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	r := &brokerChain{pg: pgtest.Start(t), firehose: &syncBuffer{}}
	ns := natstest.Start(t, natstest.Options{TLS: true, Tills: fleetdemotest.Tills(testChain, stores)})
	hqnc := ns.Connect(t, ns.URL(), ns.HQ(), nats.ReconnectWait(100*time.Millisecond))
	if _, err := hqnc.Subscribe(">", r.record); err != nil {
		t.Fatal(err)
	}
	if r.js, err = jetstream.New(hqnc); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r.c, err = fleetdemo.Start(ctx, fleetdemo.Options{
		Chain: testChain, Stores: stores, Dir: t.TempDir(),
		TillboxBin: buildTillbox(t), HQBin: hqAsProcess(t),
		NATS: fleetdemotest.NATS([]string{ns.URL()}, ns, 1), PostgresDSN: r.pg.DSN(), Heartbeat: time.Second,
		Users:  []fleetdemo.User{{Name: "ops", PasswordHash: hash}},
		Broker: true, TokenLifetime: brokerTokenLife,
		// The customer comes with the sale; with headquarters down the
		// boxes learn outcomes by polling.
		NoScanner: true, PollDelay: time.Second, PollEvery: time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatalf("the chain does not start: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		if err := r.c.Close(); err != nil {
			t.Logf("stopping the chain: %v", err)
		}
		if t.Failed() {
			t.Logf("tillbox-hq's log (tail):\n%s", tail(r.c.HQ().Log(), 100))
			for _, b := range r.c.Boxes() {
				t.Logf("%s's log (tail):\n%s", b.Till, tail(b.Log(), 60))
			}
		}
	})
	jar, _ := cookiejar.New(nil)
	r.web = &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := r.web.PostForm(r.c.HQ().URL()+"/login", url.Values{"name": {"ops"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %s", resp.Status)
	}
	return r
}

// record keeps a NATS message, and the token of a broker's reply.
func (r *brokerChain) record(m *nats.Msg) {
	_, _ = fmt.Fprintf(r.firehose, "%s %v %s\n", m.Subject, m.Header, m.Data)
	var rep wire.TokenReply
	if strings.HasPrefix(m.Subject, "_INBOX_") && json.Unmarshal(m.Data, &rep) == nil && rep.Token != "" {
		r.mu.Lock()
		if !slices.Contains(r.tokens, rep.Token) {
			r.tokens = append(r.tokens, rep.Token)
		}
		r.mu.Unlock()
	}
}

func (r *brokerChain) handedOut() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tokens)
}

// sell rings up a sale on b, the customer with it, and returns its
// reference.
func (r *brokerChain) sell(t *testing.T, b *fleetdemo.Box, amount int64) string {
	t.Helper()
	s, _, err := b.Client().CreateSale(t.Context(), agent.SaleRequest{Amount: amount, Currency: "NOK",
		Description: "Kaffe", Customer: &agent.Customer{PersonalQR: fleetdemo.PersonalQR}})
	if err != nil {
		t.Fatalf("%s: %v", b.Till, err)
	}
	return s.Reference
}

// saleState waits until b's sale ref is in state want (long bound: a busy
// machine).
func saleState(t *testing.T, b *fleetdemo.Box, ref string, want agent.State) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := b.Client().GetSale(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		if s.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's sale %s is %s, want %s", b.Till, ref, s.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// heartbeat waits until till's last heartbeat (as headquarters' stream
// keeps it, headquarters up or not) satisfies ok.
func (r *brokerChain) heartbeat(t *testing.T, till wire.Till, what string, ok func(wire.Heartbeat) bool) wire.Heartbeat {
	t.Helper()
	var h wire.Heartbeat
	waitFor(t, 2*time.Minute, fmt.Sprintf("%s's heartbeat with %s", till, what), func() bool {
		s, err := r.js.Stream(t.Context(), wire.HeartbeatStream)
		if err != nil {
			return false
		}
		m, err := s.GetLastMsgForSubject(t.Context(), till.HeartbeatSubject())
		if err != nil {
			return false
		}
		h = wire.Heartbeat{}
		return json.Unmarshal(m.Data, &h) == nil && ok(h)
	})
	return h
}

// page is the body of one of headquarters' pages, signed in.
func (r *brokerChain) page(t *testing.T, path string) string {
	t.Helper()
	resp, err := r.web.Get(r.c.HQ().URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s %v", path, resp.Status, err)
	}
	r.pages = append(r.pages, b.String())
	return b.String()
}

// fleetToken is a till's token as /api/fleet shows it.
type fleetToken struct {
	MSN          string     `json:"msn"`
	TokenSource  string     `json:"tokenSource"`
	TokenExpires *time.Time `json:"tokenExpires"`
	TokenWarning string     `json:"tokenWarning"`
}

// fleetTokens are the tills' tokens on /api/fleet, by store/till.
func (r *brokerChain) fleetTokens(t *testing.T) map[string]fleetToken {
	t.Helper()
	var f struct {
		Stores []struct {
			Tills []struct {
				Store, Till string
				fleetToken
			} `json:"tills"`
		} `json:"stores"`
	}
	if err := json.Unmarshal([]byte(r.page(t, "/api/fleet")), &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]fleetToken{}
	for _, s := range f.Stores {
		for _, till := range s.Tills {
			out[till.Store+"/"+till.Till] = till.fleetToken
		}
	}
	return out
}

// TestTokenBrokerChain: a chain whose boxes hold no client secret sells
// through headquarters' token broker (real processes: nats-server with
// TLS and a user per box, PostgreSQL, tillbox-hq, `tillbox run`, the
// simulator with tokens living 20 s); the fleet page and /api/fleet show
// each till's token from headquarters with its expiry; headquarters
// killed for longer than a token's life, the boxes sell on their tokens
// while valid, then queue their sales (the POS sees them waiting, nothing
// reaches Vipps MobilePay), and the sales complete once headquarters is
// back; the client secret is nowhere but in headquarters' secret files,
// the subscription key there and in the boxes' configurations, and no
// token but in the broker's replies.
func TestTokenBrokerChain(t *testing.T) {
	const password = "ops-password-for-the-broker-chain"
	stores := []fleetdemo.Store{{ID: "oslo", MSN: testMSN, Tills: []string{"t1"}}, {ID: "bergen", MSN: "223456", Tills: []string{"t1"}}}
	r := startBrokerChain(t, stores, password)
	boxes := r.c.Boxes()
	var sales []string // every sale's reference, "msn reference"
	sell := func(t *testing.T, b *fleetdemo.Box, amount int64) string {
		ref := r.sell(t, b, amount)
		sales = append(sales, b.MSN+" "+ref)
		return ref
	}

	t.Run("sales through the broker", func(t *testing.T) {
		for _, b := range boxes {
			saleState(t, b, sell(t, b, 4990), agent.Completed)
		}
		for _, b := range boxes {
			r.heartbeat(t, b.Till, "a valid token from headquarters", func(h wire.Heartbeat) bool {
				return h.TokenSource == wire.TokenFromHQ && h.TokenExpires.After(time.Now())
			})
		}
		waitFor(t, time.Minute, "every till's token from headquarters on /api/fleet", func() bool {
			tokens := r.fleetTokens(t)
			for _, b := range boxes {
				tok := tokens[b.Till.Store+"/"+b.Till.Till]
				if tok.TokenSource != wire.TokenFromHQ || tok.TokenExpires == nil || tok.MSN != b.MSN ||
					!tok.TokenExpires.After(time.Now()) || tok.TokenExpires.After(time.Now().Add(brokerTokenLife)) || tok.TokenWarning != "" {
					return false
				}
			}
			return true
		})
		if n := strings.Count(r.page(t, "/"), "from headquarters, until "); n != len(boxes) {
			t.Errorf("the fleet page shows %d tills with headquarters' token, want %d", n, len(boxes))
		}
		if len(r.handedOut()) < len(stores) {
			t.Errorf("%d tokens in the broker's replies for %d sales units", len(r.handedOut()), len(stores))
		}
	})

	t.Run("headquarters down past a token's life", func(t *testing.T) {
		r.outage(t, sell)
	})

	t.Run("nothing lost", func(t *testing.T) {
		for _, s := range sales {
			msn, ref, _ := strings.Cut(s, " ")
			if p, ok := r.c.Sim().Payment(msn, ref); !ok || p.Aggregate.CapturedAmount.Value != p.Amount.Value {
				t.Errorf("sale %s at the simulator: found %v, %s, captured %d of %d", ref, ok, p.State, p.Aggregate.CapturedAmount.Value, p.Amount.Value)
			}
		}
	})

	t.Run("the secrets stay at headquarters", func(t *testing.T) { r.checkSecrets(t) })
}

// outage: with fresh tokens on the boxes, headquarters is killed; the
// boxes sell on their tokens; past the tokens' expiry their sales queue
// and reach no one; headquarters back, they complete.
func (r *brokerChain) outage(t *testing.T, sell func(*testing.T, *fleetdemo.Box, int64) string) {
	boxes := r.c.Boxes()
	// Tokens with most of their life ahead (the boxes renew theirs when
	// a call needs it): sell until each heartbeat says so.
	waitFor(t, 2*time.Minute, "fresh tokens on every box", func() bool {
		fresh := true
		for _, b := range boxes {
			saleState(t, b, sell(t, b, 1990), agent.Completed)
			h := r.heartbeat(t, b.Till, "a token", func(h wire.Heartbeat) bool { return h.TokenSource == wire.TokenFromHQ })
			fresh = fresh && time.Until(h.TokenExpires) > brokerTokenLife*6/10
		}
		return fresh
	})
	r.c.HQ().Kill()
	killed := time.Now()
	given := len(r.handedOut())

	var expires time.Time
	for _, b := range boxes {
		saleState(t, b, sell(t, b, 2990), agent.Completed) // on the token held
		h := r.heartbeat(t, b.Till, "a token", func(h wire.Heartbeat) bool { return !h.TokenExpires.IsZero() })
		if h.TokenExpires.After(expires) {
			expires = h.TokenExpires
		}
	}
	if r.c.HQ().Running() || len(r.handedOut()) != given {
		t.Fatal("headquarters answered while killed")
	}

	// The tokens' expiry is the event waited for.
	waitFor(t, 2*brokerTokenLife, "the boxes' tokens to expire", func() bool { return time.Now().After(expires.Add(time.Second)) })
	queued := map[*fleetdemo.Box]string{}
	for _, b := range boxes {
		queued[b] = sell(t, b, 3990)
	}
	for b, ref := range queued {
		// The box tried and has no token: Vipps MobilePay counts as
		// unreachable, the sale waits in the outbox.
		r.heartbeat(t, b.Till, "the sale waiting for a token", func(h wire.Heartbeat) bool {
			return !h.Online && h.Queue >= 1 && !h.TokenExpires.After(time.Now())
		})
		s, err := b.Client().GetSale(t.Context(), ref)
		if err != nil || s.State != agent.Queued {
			t.Fatalf("%s's sale with no token: %q %v", b.Till, s.State, err)
		}
		st, err := b.Client().Status(t.Context())
		if err != nil || st.Queued < 1 {
			t.Fatalf("%s's status with no token: %+v %v", b.Till, st, err)
		}
		if _, ok := r.c.Sim().Payment(b.MSN, ref); ok {
			t.Fatalf("%s's sale reached Vipps MobilePay without a token", b.Till)
		}
	}
	if down := time.Since(killed); down < brokerTokenLife {
		t.Fatalf("headquarters was down %s, less than a token's life", down)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := r.c.HQ().Start(ctx); err != nil {
		t.Fatal(err)
	}
	for b, ref := range queued {
		saleState(t, b, ref, agent.Completed)
		r.heartbeat(t, b.Till, "a new token from headquarters", func(h wire.Heartbeat) bool {
			return h.TokenSource == wire.TokenFromHQ && h.TokenExpires.After(time.Now())
		})
	}
	if len(r.handedOut()) <= given {
		t.Error("no token from headquarters after its restart")
	}
}

// checkSecrets: the client secret is in headquarters' secret files only,
// the subscription key there and in the boxes' configurations (every
// ePayment call carries it); neither in any other file of the chain (the
// boxes' databases too), a log, a page, a NATS message (streams and KV
// included: recorded since before the chain started) or PostgreSQL; the
// tokens only in the broker's replies on the boxes' inboxes.
func (r *brokerChain) checkSecrets(t *testing.T) {
	secret, subKey := r.c.UnitKeys()
	hqDir := filepath.Dir(r.c.HQ().ConfigFile())
	var withSecret, withSubKey []string
	err := filepath.WalkDir(filepath.Dir(hqDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Dir(hqDir), path)
		if bytes.Contains(data, []byte(secret)) {
			withSecret = append(withSecret, rel)
		}
		if bytes.Contains(data, []byte(subKey)) {
			withSubKey = append(withSubKey, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wantSecret, wantSubKey []string
	for _, b := range r.c.Boxes() {
		rel, _ := filepath.Rel(filepath.Dir(hqDir), b.ConfigFile())
		wantSubKey = append(wantSubKey, rel)
		if !slices.Contains(wantSecret, "hq/client-secret-"+b.MSN) {
			wantSecret = append(wantSecret, "hq/client-secret-"+b.MSN)
			wantSubKey = append(wantSubKey, "hq/subscription-key-"+b.MSN)
		}
	}
	slices.Sort(withSecret)
	slices.Sort(withSubKey)
	slices.Sort(wantSecret)
	slices.Sort(wantSubKey)
	if !slices.Equal(withSecret, wantSecret) || !slices.Equal(withSubKey, wantSubKey) {
		t.Errorf("the client secret is in %q (want %q), the subscription key in %q (want %q)", withSecret, wantSecret, withSubKey, wantSubKey)
	}

	r.page(t, "/")
	places := map[string]string{"headquarters' log": r.c.HQ().Log(), "PostgreSQL": pgText(t, r.pg.DSN()),
		"the fleet page": strings.Join(r.pages, "\n"), "/metrics": r.page(t, "/metrics")}
	for _, b := range r.c.Boxes() {
		places[b.Till.String()+"'s log"] = b.Log()
	}
	var outside strings.Builder // the NATS messages but the broker's replies
	for line := range strings.SplitSeq(r.firehose.String(), "\n") {
		if !strings.HasPrefix(line, "_INBOX_") {
			outside.WriteString(line + "\n")
		}
	}
	places["a NATS message"] = r.firehose.String()
	tokens := r.handedOut()
	for what, text := range places {
		if strings.Contains(text, secret) || strings.Contains(text, subKey) {
			t.Errorf("the client secret or the subscription key is in %s", what)
		}
		if what == "a NATS message" {
			text = outside.String()
		}
		for _, tok := range tokens {
			if strings.Contains(text, tok) {
				t.Errorf("a token is in %s", what)
			}
		}
	}
	if !strings.Contains(places["PostgreSQL"], "tokenSource") || !strings.Contains(r.firehose.String(), "tokenSource") {
		t.Error("the heartbeats are neither in PostgreSQL nor on NATS: the search sees nothing")
	}
}

// pgText is every row of every table of the public schema as text.
func pgText(t *testing.T, dsn string) string {
	t.Helper()
	db := pgConn(t, dsn)
	rows, err := db.Query(context.Background(), `SELECT quote_ident(table_name) FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
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
			dump.WriteString(*text + "\n")
		}
	}
	return dump.String()
}
