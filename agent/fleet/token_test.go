package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

const (
	tokMSN    = "123456"
	tokSecret = "cs-TOKEN-TEST-client-secret"
	tokSubKey = "sk-TOKEN-TEST-subscription"
)

// tokenHQ plays headquarters' token broker: it holds the secret, fetches
// tokens from the simulator and answers the token subjects of the chain
// in the queue group, as headquarters' user. code, when set, is the
// answer instead of a token.
type tokenHQ struct {
	vipps *epayment.Client
	nc    *nats.Conn
	sub   *nats.Subscription

	mu    sync.Mutex
	code  string
	asked []wire.TokenRequest
	subj  []string
	given []epayment.Secret
	exp   time.Time // the expiry of the last token given
}

func startTokenHQ(t *testing.T, s *natstest.Server, simURL string) *tokenHQ {
	t.Helper()
	v, err := epayment.New(epayment.Config{BaseURL: simURL, ClientID: "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d",
		ClientSecret: tokSecret, SubscriptionKey: tokSubKey, MSN: tokMSN})
	if err != nil {
		t.Fatal(err)
	}
	nc := s.Connect(t, s.URL(), s.HQ())
	h := &tokenHQ{vipps: v, nc: nc}
	h.sub, err = nc.QueueSubscribe(wire.TokenSubjects(tillA.Chain), wire.TokenQueue, h.answer)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *tokenHQ) answer(m *nats.Msg) {
	var req wire.TokenRequest
	_ = json.Unmarshal(m.Data, &req)
	h.mu.Lock()
	h.asked, h.subj = append(h.asked, req), append(h.subj, m.Subject)
	code, last, exp := h.code, epayment.Secret(""), h.exp
	if len(h.given) > 0 {
		last = h.given[len(h.given)-1]
	}
	h.mu.Unlock()
	r := wire.TokenReply{MSN: req.MSN, Code: code, Message: "headquarters says " + code}
	if code == "" {
		var refused epayment.Secret
		if !req.After.IsZero() && req.After.Equal(exp) {
			refused = last
		}
		tok, e, err := h.vipps.AccessToken(context.Background(), refused)
		if err != nil {
			r.Code, r.Message = wire.TokenUnavailable, "Vipps MobilePay does not answer"
		} else {
			r.Token, r.ExpiresAt, r.Message = tok.Reveal(), e, ""
			h.mu.Lock()
			h.given, h.exp = append(h.given, tok), e
			h.mu.Unlock()
		}
	}
	_ = m.Respond(r.Marshal())
}

func (h *tokenHQ) setCode(c string) {
	h.mu.Lock()
	h.code = c
	h.mu.Unlock()
}

func (h *tokenHQ) last() (wire.TokenRequest, string, epayment.Secret) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var g epayment.Secret
	if len(h.given) > 0 {
		g = h.given[len(h.given)-1]
	}
	return h.asked[len(h.asked)-1], h.subj[len(h.subj)-1], g
}

// TestTokenBroker: a link asks headquarters for its token on its own
// subject and an ePayment client without a client secret pays with it;
// a refused token is named by its expiry and replaced; headquarters'
// refusals are errors a person must look at, its "unavailable" and its
// silence are passing; the token never shows in the link's status nor
// in its log.
func TestTokenBroker(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA, tillB}})
	hqStreams(t, hq(t, s), time.Minute)
	vs := sim.New(sim.Options{ClientSecret: tokSecret, SubscriptionKey: tokSubKey, App: sim.AppPolicy{Action: sim.Approve, Delay: 10 * time.Millisecond}})
	simHTTP := httptest.NewServer(vs)
	t.Cleanup(func() { simHTTP.Close(); vs.Close() })
	h := startTokenHQ(t, s, simHTTP.URL)

	var logs bytes.Buffer
	var logMu sync.Mutex
	o := boxOptions(s, tillA)
	o.MSN = tokMSN
	o.Logger = slog.New(slog.NewTextHandler(&lockedBuf{b: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := newBox(t, "", store.Options{}).run(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	tok, exp, err := l.Token(ctx, "")
	if err != nil || tok == "" || !exp.After(time.Now()) {
		t.Fatalf("Token: %v (expires %s)", err, exp)
	}
	req, subj, _ := h.last()
	if subj != tillA.TokenSubject() || req.MSN != tokMSN || !req.After.IsZero() {
		t.Fatalf("headquarters was asked %+v on %s", req, subj)
	}

	// An ePayment client without a secret pays with the broker's token.
	vc, err := epayment.New(epayment.Config{BaseURL: simHTTP.URL, SubscriptionKey: tokSubKey, MSN: tokMSN, TokenSource: l.Link})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vc.CreatePayment(ctx, "tb-t1-tok-1-c", &epayment.CreatePaymentRequest{
		Amount: epayment.Amount{Currency: epayment.NOK, Value: 1000}, PaymentMethod: epayment.PaymentMethod{Type: "WALLET"},
		Customer: &epayment.Customer{PhoneNumber: "4791234567"}, Reference: "tb-t1-tok-1", UserFlow: "PUSH_MESSAGE",
	}); err != nil {
		t.Fatalf("a payment with the broker's token: %v", err)
	}
	if hh := vc.Health(); hh.TokenFrom != epayment.TokenFromHQ {
		t.Fatalf("client health %+v, want a token from hq", hh)
	}

	// Vipps refuses it: the box names it by its expiry, gets another.
	_, _, held := h.last()
	tok2, _, err := l.Token(ctx, held)
	req, _, _ = h.last()
	if err != nil || tok2 == held || !req.After.Equal(exp) {
		t.Fatalf("after a refusal: %v; asked %+v (want After %s), same token %v", err, req, exp, tok2 == held)
	}

	// Another box (while headquarters answers) cannot ask on this box's subject.
	other := s.Connect(t, s.URL(), s.Box(tillB))
	if _, err := other.Request(tillA.TokenSubject(), []byte(`{"msn":"123456"}`), 2*time.Second); err == nil {
		t.Error("till t2 asked on t1's token subject")
	}

	for _, c := range []struct {
		code   string
		denied bool
	}{{wire.TokenNotAllowed, true}, {wire.TokenRefused, true}, {wire.TokenUnavailable, false}} {
		h.setCode(c.code)
		_, _, err := l.Token(ctx, "")
		if err == nil || errors.Is(err, epayment.ErrTokenDenied) != c.denied || !strings.Contains(err.Error(), "headquarters says "+c.code) {
			t.Errorf("reply %s: %v; want denied %v, and headquarters' message", c.code, err, c.denied)
		}
	}
	logMu.Lock()
	if !strings.Contains(logs.String(), "headquarters says "+wire.TokenRefused) {
		t.Errorf("the link's log does not show headquarters' refusal:\n%s", logs.String())
	}
	logMu.Unlock()

	// Headquarters' answerer gone: no responder, at once.
	if err := h.sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := h.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	_, _, err = l.Token(ctx, "")
	if err == nil || errors.Is(err, epayment.ErrTokenDenied) || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("no answerer: %v", err)
	}

	st, _ := json.Marshal(l.Status())
	logMu.Lock()
	defer logMu.Unlock()
	for _, secret := range []string{tok.Reveal(), tok2.Reveal(), tokSecret, tokSubKey} {
		if strings.Contains(string(st), secret) || strings.Contains(logs.String(), secret) {
			t.Fatalf("a secret in the link's status or log:\n%s\n%s", st, logs.String())
		}
	}
}

type lockedBuf struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w *lockedBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
