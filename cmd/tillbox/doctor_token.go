package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet"
)

// brokerCredentials is credentials' check when headquarters' token broker
// gives the token (vipps.token_source): it asks headquarters for one over
// a connection of its own, then ePayment with it and the box's
// subscription key and MSN. It says where the token comes from, when it
// expires and what happens then; never the token. own: headquarters gave
// none and the box has its own secret, to be checked next (detail then
// says what headquarters did).
func brokerCredentials(ctx context.Context, c *config.Config, path, reached string, timeout time.Duration) (status, detail string, own bool) {
	_, fallback := c.TokenBroker()
	then := "payments wait (the box holds no client secret) until headquarters answers again"
	if fallback {
		then = "the box falls back on its own client secret"
	}
	ec := c.EPaymentConfig()
	ec.HTTPClient = &http.Client{Timeout: timeout}
	o, _ := c.FleetOptions()
	o.Timeout = timeout
	ec.TokenSource = fleet.TokenProbe(o)
	if !fallback {
		ec.ClientSecret = ""
	}
	client, err := epayment.New(ec)
	if err != nil {
		return "fail", fmt.Sprintf("%s, but the settings cannot be used: %v (tillbox config check %s)", reached, err, path), false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	if err := client.CheckCredentials(ctx); err != nil {
		if epayment.IsAuth(err) {
			return "fail", fmt.Sprintf("%s, but headquarters gives this box no access token for sales unit %s: %v; a person at headquarters must look (the sales unit's keys there, or this store's right to it); meanwhile %s",
				reached, c.Vipps.MSN, err, then), fallback
		}
		return "warn", fmt.Sprintf("%s, but headquarters gave no access token now: %v; a running box goes on with the token it holds until it expires, then %s", reached, err, then), fallback
	}
	// The token is fresh from headquarters: GetPayment uses it.
	_, err = client.GetPayment(ctx, "tillbox-doctor-check")
	h := client.Health()
	got := fmt.Sprintf("the access token comes from headquarters (valid until %s UTC); when it runs out and headquarters does not answer, %s", h.TokenExpires.UTC().Format("2006-01-02 15:04:05"), then)
	switch {
	case err == nil, epayment.StatusCode(err) == http.StatusNotFound:
		return "ok", reached + "; " + got + "; the subscription key and MSN are accepted", false
	case epayment.IsAuth(err):
		return "fail", fmt.Sprintf("%s; %s; but ePayment refuses MSN %s with this subscription key and headquarters' token (%d): no payment can be sent; check subscription_key and msn in [vipps] of %s against the sales unit in the business portal, then restart tillbox",
			reached, got, c.Vipps.MSN, epayment.StatusCode(err), path), false
	}
	return "warn", fmt.Sprintf("%s; %s; the MSN could not be checked: %v", reached, got, err), false
}
