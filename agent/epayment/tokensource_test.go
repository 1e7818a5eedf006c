package epayment_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// broker stands in for headquarters' token broker: a client of its own
// that holds the secret and fetches the tokens from the same simulator
// (on another listener, so that the rig records the box's calls only).
type broker struct {
	hq *epayment.Client

	mu      sync.Mutex
	down    error             // when set, Token fails with it
	refused []epayment.Secret // what each call said was refused
	given   []epayment.Secret
}

func newBroker(t *testing.T, r *rig) *broker {
	t.Helper()
	srv := httptest.NewServer(r.sim)
	t.Cleanup(srv.Close)
	hq, err := epayment.New(epayment.Config{BaseURL: srv.URL, ClientID: testClientID, ClientSecret: testSecret, SubscriptionKey: testSubKey, MSN: testMSN, Now: r.clock})
	if err != nil {
		t.Fatal(err)
	}
	return &broker{hq: hq}
}

func (b *broker) Token(ctx context.Context, refused epayment.Secret) (epayment.Secret, time.Time, error) {
	b.mu.Lock()
	down := b.down
	b.refused = append(b.refused, refused)
	b.mu.Unlock()
	if down != nil {
		return "", time.Time{}, down
	}
	tok, exp, err := b.hq.AccessToken(ctx, refused)
	b.mu.Lock()
	b.given = append(b.given, tok)
	b.mu.Unlock()
	return tok, exp, err
}

func (b *broker) set(down error) {
	b.mu.Lock()
	b.down = down
	b.mu.Unlock()
}

func (b *broker) calls() ([]epayment.Secret, []epayment.Secret) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]epayment.Secret(nil), b.refused...), append([]epayment.Secret(nil), b.given...)
}

// withBroker makes the rig's client a box without a client secret whose
// token comes from a broker; keepSecret leaves it its own secret to fall
// back on.
func withBroker(t *testing.T, keepSecret bool) (*rig, *broker) {
	t.Helper()
	var b *broker
	src := &lateSource{}
	r := newRig(t, sim.Options{TokenLifetime: time.Hour, ClientSecret: testSecret}, func(c *epayment.Config) {
		c.TokenSource = src
		if !keepSecret {
			c.ClientID, c.ClientSecret = "", ""
		}
	})
	b = newBroker(t, r)
	src.b = b
	return r, b
}

// lateSource lets the broker be made after the rig (it needs the rig's
// simulator and clock).
type lateSource struct{ b *broker }

func (s *lateSource) Token(ctx context.Context, refused epayment.Secret) (epayment.Secret, time.Time, error) {
	return s.b.Token(ctx, refused)
}

// TestTokenFromSource: a box without a client secret takes its token from
// the source; it never makes the token call nor sends a client id or
// secret; a token Vipps refuses is handed back and replaced; with the
// source down the held token is used until it expires, then calls are
// not sent (retryable) until the source answers again; a refusal is an
// auth error. Never a secret in the logs.
func TestTokenFromSource(t *testing.T) {
	r, b := withBroker(t, false)
	ctx := context.Background()
	c := r.client
	ref := r.createAuthorized(ctx, 1000)
	if n := len(r.requests("/accesstoken/get")); n != 0 {
		t.Fatalf("the box made %d token calls, want none", n)
	}
	for _, q := range r.requests("/") {
		if q.Header.Get("client_secret") != "" || q.Header.Get("client_id") != "" {
			t.Fatalf("%s %s sent a client id or secret", q.Method, q.URL.Path)
		}
		if q.Header.Get("Ocp-Apim-Subscription-Key") != testSubKey || q.Header.Get("Merchant-Serial-Number") != testMSN {
			t.Fatalf("%s %s lacks the subscription key or the MSN", q.Method, q.URL.Path)
		}
	}
	h := c.Health()
	if !h.HasToken || h.TokenFrom != epayment.TokenFromHQ || !h.Source || h.Fallback || h.Then() != "payments wait" {
		t.Fatalf("health %+v (then %q), want a token from hq, payments wait after it", h, h.Then())
	}

	// Vipps refuses the token (revoked): the source is told which, and a new one is used.
	_, given := b.calls()
	first := given[len(given)-1]
	resp, err := http.Post(r.srv.URL+"/sim/tokens/revoke", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := c.GetPayment(ctx, ref); err != nil {
		t.Fatalf("after a revoked token: %v", err)
	}
	refused, given := b.calls()
	if refused[len(refused)-1] != first || given[len(given)-1] == first {
		t.Fatalf("the source was not told of the refused token, or gave it again")
	}

	// The source goes down: inside the renewal margin the held token goes on.
	b.set(errors.New("headquarters not connected"))
	r.advance(57 * time.Minute)
	if _, err := c.GetPayment(ctx, ref); err != nil {
		t.Fatalf("with a valid token held and the source down: %v", err)
	}
	if h := c.Health(); !strings.Contains(h.TokenError, "headquarters not connected") {
		t.Errorf("health does not show the source's failure: %+v", h)
	}
	// Past its expiry: the call is not sent, and may be tried again.
	r.advance(4 * time.Minute)
	_, err = c.GetPayment(ctx, ref)
	if err == nil || !epayment.NotSent(err) || !epayment.IsRetryable(err) || epayment.IsAuth(err) {
		t.Fatalf("token expired, source down: %v; want not sent and retryable", err)
	}
	// A refusal a person must look at.
	b.set(errors.Join(epayment.ErrTokenDenied, errors.New("store oslo-1 may not use sales unit 123456")))
	_, err = c.GetPayment(ctx, ref)
	if !epayment.IsAuth(err) || !epayment.NotSent(err) || !strings.Contains(err.Error(), "may not use") {
		t.Fatalf("source refused: %v; want an auth error that says why", err)
	}
	// Back: the next call gets a token.
	b.set(nil)
	if _, err := c.GetPayment(ctx, ref); err != nil {
		t.Fatalf("source back: %v", err)
	}
	_, given = b.calls()
	for _, s := range []string{testSecret, given[len(given)-1].Reveal(), first.Reveal()} {
		if strings.Contains(r.logs.String(), s) {
			t.Fatalf("a secret or token in the logs:\n%s", r.logs)
		}
	}
}

// TestTokenSourceFallback: a box with its own secret keeps the source's
// token while it is valid, falls back on its secret when the source gives
// none and no valid token is held, and goes back to the source after.
func TestTokenSourceFallback(t *testing.T) {
	r, b := withBroker(t, true)
	ctx := context.Background()
	c := r.client
	ref := r.createAuthorized(ctx, 1000)
	if h := c.Health(); h.TokenFrom != epayment.TokenFromHQ || !h.Fallback || h.Then() != "own secret" {
		t.Fatalf("health %+v, want a token from hq and the own secret after it", h)
	}
	b.set(errors.Join(epayment.ErrTokenDenied, errors.New("no such sales unit at headquarters")))
	r.advance(57 * time.Minute)
	if _, err := c.GetPayment(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n := len(r.requests("/accesstoken/get")); n != 0 {
		t.Fatalf("%d own token calls while the source's token was valid, want none", n)
	}
	r.advance(4 * time.Minute)
	if _, err := c.GetPayment(ctx, ref); err != nil {
		t.Fatalf("source down, own secret: %v", err)
	}
	h := c.Health()
	if n := len(r.requests("/accesstoken/get")); n != 1 || h.TokenFrom != epayment.TokenFromBox || !strings.Contains(h.TokenError, "no such sales unit") {
		t.Fatalf("%d own token calls, health %+v; want the own secret used once, the source's refusal shown", n, h)
	}
	b.set(nil)
	r.advance(56 * time.Minute) // the own token is due for renewal: the source first
	if _, err := c.GetPayment(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if h := c.Health(); h.TokenFrom != epayment.TokenFromHQ || len(r.requests("/accesstoken/get")) != 1 {
		t.Fatalf("health %+v: want the source's token again", h)
	}
}

// TestNewWithTokenSource: without a source the client id and secret are
// required; with one they may both be absent, but a secret to fall back
// on needs its client id.
func TestNewWithTokenSource(t *testing.T) {
	base := epayment.Config{BaseURL: "http://127.0.0.1:1", SubscriptionKey: testSubKey, MSN: testMSN}
	if _, err := epayment.New(base); err == nil {
		t.Error("no secret and no source accepted")
	}
	src := &lateSource{}
	with := base
	with.TokenSource = src
	if _, err := epayment.New(with); err != nil {
		t.Errorf("a source without a secret: %v", err)
	}
	with.ClientSecret = testSecret
	if _, err := epayment.New(with); err == nil || !strings.Contains(err.Error(), "ClientID") {
		t.Errorf("a fallback secret without its client id: %v", err)
	}
	with.SubscriptionKey = ""
	with.ClientID = testClientID
	if _, err := epayment.New(with); err == nil {
		t.Error("no subscription key accepted with a source")
	}
}
