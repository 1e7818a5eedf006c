package tokens

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

const (
	msn      = "123456"
	clientID = "0a000000-0000-4000-8000-000000000001"
)

// vipps is the simulator on loopback, counting the token calls.
func vipps(t *testing.T, secret string) (string, *atomic.Int64) {
	t.Helper()
	s := sim.New(sim.Options{ClientID: clientID, ClientSecret: secret, SubscriptionKey: "sub-key"})
	t.Cleanup(func() { _ = s.Close() })
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/accesstoken/get" {
			calls.Add(1)
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

func unitAt(base, secret string, stores ...string) Unit {
	return Unit{MSN: msn, Stores: stores, Vipps: epayment.Config{BaseURL: base, ClientID: clientID,
		ClientSecret: epayment.Secret(secret), SubscriptionKey: "sub-key", MSN: msn}}
}

func ask(t *testing.T, b *Broker, store, till string, body string) wire.TokenReply {
	t.Helper()
	subject := wire.Till{Chain: "acme", Store: store, Till: till}.TokenSubject()
	r := b.Answer(context.Background(), subject, []byte(body))
	if err := r.Check(r.MSN, time.Now()); err != nil {
		t.Fatalf("reply: %v", err)
	}
	return r
}

// TestAnswer: one fetch serves every till; a refused token forces one
// fetch, not one per request; unreadable requests and other chains'
// subjects get not_allowed; an unchanged reload keeps the cached token, a
// changed secret fetches anew.
func TestAnswer(t *testing.T) {
	base, calls := vipps(t, "secret-1")
	b, err := New(Options{Chain: "acme"}, []Unit{unitAt(base, "secret-1", "oslo")})
	if err != nil {
		t.Fatal(err)
	}
	first := ask(t, b, "oslo", "t1", `{"msn":"123456"}`)
	if first.Code != "" || ask(t, b, "oslo", "t2", `{"msn":"123456"}`).Token != first.Token || calls.Load() != 1 {
		t.Fatalf("two tills, %d token calls (want 1), code %q", calls.Load(), first.Code)
	}
	after, _ := first.ExpiresAt.MarshalText()
	refused := `{"msn":"123456","after":"` + string(after) + `"}`
	second := ask(t, b, "oslo", "t1", refused)
	if second.Token == first.Token || calls.Load() != 2 {
		t.Fatalf("a refused token: same token %v, %d calls", second.Token == first.Token, calls.Load())
	}
	// The same claim again at once (another till, or a box that insists)
	// gets the new token without a fetch.
	if third := ask(t, b, "oslo", "t2", refused); third.Token != second.Token || calls.Load() != 2 {
		t.Fatalf("a repeated refusal fetched again: %d calls", calls.Load())
	}

	for _, c := range []struct{ subject, body, code string }{
		{wire.Till{Chain: "acme", Store: "oslo", Till: "t1"}.TokenSubject(), `not json`, wire.TokenNotAllowed},
		{wire.Till{Chain: "other", Store: "oslo", Till: "t1"}.TokenSubject(), `{"msn":"123456"}`, wire.TokenNotAllowed},
		{wire.Till{Chain: "acme", Store: "oslo", Till: "t1"}.HeartbeatSubject(), `{"msn":"123456"}`, wire.TokenNotAllowed},
		{wire.Till{Chain: "acme", Store: "bergen", Till: "t1"}.TokenSubject(), `{"msn":"123456"}`, wire.TokenNotAllowed},
	} {
		if r := b.Answer(context.Background(), c.subject, []byte(c.body)); r.Code != c.code || r.Token != "" {
			t.Errorf("%s %s: %q, want %q", c.subject, c.body, r.Code, c.code)
		}
	}
	if ok, why := b.Available("bergen", msn); ok || !strings.Contains(why, "store bergen may not use") {
		t.Errorf("bergen available: %v %q", ok, why)
	}
	if ok, _ := b.Available("oslo", msn); !ok {
		t.Errorf("oslo's token not available")
	}

	if err := b.SetUnits([]Unit{unitAt(base, "secret-1", "oslo")}); err != nil {
		t.Fatal(err)
	}
	if r := ask(t, b, "oslo", "t1", `{"msn":"123456"}`); r.Token != second.Token || calls.Load() != 2 {
		t.Fatalf("an unchanged reload dropped the cached token: %d calls", calls.Load())
	}
	// A secret Vipps MobilePay does not take: refused, and the page knows.
	if err := b.SetUnits([]Unit{unitAt(base, "secret-2", "oslo")}); err != nil {
		t.Fatal(err)
	}
	if r := ask(t, b, "oslo", "t1", `{"msn":"123456"}`); r.Code != wire.TokenRefused {
		t.Fatalf("a refused secret: %q", r.Code)
	}
	if ok, why := b.Available("oslo", msn); ok || !strings.Contains(why, "refuses headquarters' credentials") {
		t.Errorf("after a refusal: %v %q", ok, why)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collector())
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gather: %v, %d families", err, len(mfs))
	}
	got := map[string]float64{}
	for _, m := range mfs[0].GetMetric() {
		got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	want := map[string]float64{ResultOK: 5, ResultBadRequest: 3, ResultNotAllowed: 1, ResultRefused: 1, ResultUnavailable: 0}
	if fmt.Sprint(got) != fmt.Sprint(want) || mfs[0].GetName() != "tillbox_hq_token_requests_total" {
		t.Errorf("%s = %v, want %v", mfs[0].GetName(), got, want)
	}
}
