package main

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
)

// TestReconUnitTokens: with no token source given, headquarters reconciles
// the units that hold their keys with tokens of their own, fetched from
// Vipps MobilePay (the simulator), and leaves the others out.
func TestReconUnitTokens(t *testing.T) {
	s := sim.New(sim.Options{ClientID: "0c1d2e3f-0000-4000-8000-000000000001", ClientSecret: "recon-client-secret", SubscriptionKey: "recon-subscription-key"})
	t.Cleanup(func() { _ = s.Close() })
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c := hqconfig.Default()
	c.Vipps.BaseURL = srv.URL
	with := hqconfig.Unit{MSN: "123456"}
	with.ClientID, with.ClientSecret, with.SubscriptionKey = "0c1d2e3f-0000-4000-8000-000000000001", "recon-client-secret", "recon-subscription-key"
	c.Units = []hqconfig.Unit{with, {MSN: "654321"}}

	units, err := reconUnits(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 1 || units[0].MSN != "123456" {
		t.Fatalf("reconciled units %+v, want 123456 alone (654321 holds no keys)", units)
	}
	token := unitTokens(c)
	tok, err := token(context.Background(), "123456", "")
	if err != nil || tok == "" {
		t.Fatalf("the unit's token: %d chars, %v", len(tok), err)
	}
	again, err := token(context.Background(), "123456", tok)
	if err != nil || again == tok {
		t.Fatalf("after a refusal: a new token %v (%v)", again != tok, err)
	}
	if _, err := token(context.Background(), "654321", ""); err == nil {
		t.Fatal("a token for a unit without keys")
	}
}
