package epayment_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// Health tells whether a token is cached and until when, the last failed
// refresh, and the server's clock against ours — never the token.
func TestHealth(t *testing.T) {
	r := newRig(t, sim.Options{ClientSecret: testSecret, TokenLifetime: time.Hour}, nil)
	if h := r.client.Health(); h.HasToken || !h.ServerDate.IsZero() || h.TokenError != "" {
		t.Fatalf("before any call: %+v", h)
	}
	// Our clock is 10 minutes fast.
	r.mu.Lock()
	r.now = time.Now().Add(10 * time.Minute)
	r.mu.Unlock()
	if _, err := r.client.GetPayment(t.Context(), "no-such-payment-1"); epayment.StatusCode(err) != 404 {
		t.Fatalf("GetPayment: %v", err)
	}
	h := r.client.Health()
	if !h.HasToken || h.TokenRefreshed != r.clock() || h.TokenExpires != r.clock().Add(time.Hour) {
		t.Errorf("after a call: %+v", h)
	}
	if skew := h.ServerDateAt.Sub(h.ServerDate); skew < 9*time.Minute || skew > 11*time.Minute {
		t.Errorf("skew %s, want about 10 minutes (Date %s, ours %s)", skew, h.ServerDate, h.ServerDateAt)
	}
	// Past its expiry the token is no longer held valid.
	r.mu.Lock()
	r.now = r.now.Add(2 * time.Hour)
	r.mu.Unlock()
	if h := r.client.Health(); h.HasToken {
		t.Errorf("an expired token is reported valid: %+v", h)
	}

	// A wrong client secret: the refresh fails and Health says so, without
	// the secret.
	bad := newRig(t, sim.Options{ClientSecret: testSecret}, func(c *epayment.Config) { c.ClientSecret = "cs-wrong-secret-value" })
	if _, err := bad.client.GetPayment(t.Context(), "no-such-payment-1"); !epayment.IsAuth(err) {
		t.Fatalf("GetPayment with a wrong secret: %v", err)
	}
	h = bad.client.Health()
	if h.HasToken || h.TokenError == "" || h.TokenErrorAt.IsZero() || strings.Contains(h.TokenError, "cs-wrong") {
		t.Errorf("after a failed refresh: %+v", h)
	}
}
