package technician_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// With every token call answered 401 (a wrong client secret), the status
// page says the credentials are refused and what to check, and shows the
// 401 as the last error; never the secret.
func TestStatusCredentialsRefused(t *testing.T) {
	b := newBoxWith(t, false, sim.Options{ClientSecret: "the-right-secret", App: sim.AppPolicy{Action: sim.Ignore}})
	if _, err := b.agent.CreateSale(context.Background(), agent.SaleRequest{Reference: "auth-refused-1", Amount: 1000,
		Currency: "NOK", Customer: &agent.Customer{PersonalQR: "https://qr.vipps.no/28/2/01/031/4712345678?v=1"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := b.agent.Status()
		if err != nil {
			t.Fatal(err)
		}
		if st.Auth == agent.AuthRefused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v: the refusal never shows", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h := b.client()
	h.signIn(password)
	_, page := h.do("GET", "", nil, nil)
	for _, want := range []string{`id="auth"><span class="problem">refused by Vipps MobilePay`, "client_secret, subscription_key", "401"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the status page lacks %q:\n%s", want, page)
		}
	}
	for _, secret := range []string{clientSecret, subscriptionKey, "the-right-secret"} {
		if bytes.Contains(page, []byte(secret)) {
			t.Errorf("the status page shows a secret")
		}
	}
}
