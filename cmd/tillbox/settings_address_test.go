package main

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/tillbox/tillbox/agent/config"
)

// The secrets are write-only: the page never shows them, so it must not
// send them elsewhere either. Pointing the box at another Vipps MobilePay
// address (another base URL, or another environment) needs the client
// secret and the subscription key typed in again; kept ones would be sent
// to whatever host was typed. Nothing is written then. With both typed,
// the change is saved.
func TestSettingsNewAddressNeedsTheSecrets(t *testing.T) {
	tt := startTechTill(t, true)
	h := tt.client()
	tok := h.signIn(techPassword)
	const elsewhere = "https://vipps.example.net" // never contacted: nothing restarts
	form := func(env, baseURL, secret, key string) url.Values {
		return url.Values{"csrf": {tok}, "environment": {env}, "base_url": {baseURL}, "msn": {"123456"},
			"client_id": {"6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"}, "client_secret": {secret}, "subscription_key": {key},
			"language": {"en"}, "customer_present_window": {"2m"}}
	}
	before, err := os.ReadFile(tt.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []url.Values{
		form("simulator", elsewhere, "", ""),
		form("simulator", elsewhere, newClientSecret, ""),
		form("test", "", "", ""),
	} {
		resp, body := h.do("POST", "settings", f)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("a new address (%s %s) with a kept secret: %s, want 422", f.Get("environment"), f.Get("base_url"), resp.Status)
		}
		if f.Get("subscription_key") == "" && !bytes.Contains(body, []byte(`data-for="vipps.subscription_key"`)) {
			t.Errorf("no reason beside the subscription key:\n%s", body)
		}
		if after, _ := os.ReadFile(tt.config); !bytes.Equal(after, before) {
			t.Fatalf("the configuration file changed: the kept secrets would go to %s", f.Get("base_url"))
		}
	}
	const newKey = "new-subscription-key-Lp3Zs8Vb"
	if resp, body := h.do("POST", "settings", form("simulator", elsewhere, newClientSecret, newKey)); resp.StatusCode != http.StatusOK {
		t.Fatalf("a new address with both secrets typed: %s\n%s", resp.Status, body)
	}
	c, err := config.Load(tt.config)
	if err != nil {
		t.Fatal(err)
	}
	if c.Vipps.BaseURL != elsewhere || c.Vipps.ClientSecret.Reveal() != newClientSecret || c.Vipps.SubscriptionKey.Reveal() != newKey {
		t.Errorf("the file holds base_url %s and not the typed secrets", c.Vipps.BaseURL)
	}
}
