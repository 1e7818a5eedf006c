package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment"
)

// credentials asks Vipps MobilePay for an access token with the configured
// keys, once the way there works (reached is reach's detail): refused keys
// fail the box, as no payment can go through, and the finding says what to
// mend. Never the keys themselves.
func credentials(ctx context.Context, c *config.Config, path, reached string, timeout time.Duration) (status, detail string) {
	if broker, _ := c.TokenBroker(); broker {
		st, d, own := brokerCredentials(ctx, c, path, reached, timeout) // doctor_token.go
		if !own {
			return st, d
		}
		defer func() { // headquarters refused: at best a warning
			if st == "fail" && status == "ok" {
				status = "warn"
			}
		}()
		reached = d
	}
	ec := c.EPaymentConfig()
	ec.HTTPClient = &http.Client{Timeout: timeout}
	client, err := epayment.New(ec)
	if err != nil {
		return "fail", fmt.Sprintf("%s, but the credentials cannot be used: %v (tillbox config check %s)", reached, err, path)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = client.CheckCredentials(ctx)
	if err == nil {
		// The MSN is not part of the token call: ask ePayment of a payment
		// that does not exist (404 when the MSN belongs to the keys).
		_, err = client.GetPayment(ctx, "tillbox-doctor-check")
		switch {
		case err == nil, epayment.StatusCode(err) == http.StatusNotFound:
			return "ok", reached + "; the credentials and MSN are accepted"
		case epayment.IsAuth(err):
			return "fail", fmt.Sprintf("%s, but ePayment refuses MSN %s with these keys (%d): no payment can be sent; check msn in [vipps] of %s against the sales unit of the keys in the business portal, then restart tillbox",
				reached, c.Vipps.MSN, epayment.StatusCode(err), path)
		}
		return "warn", fmt.Sprintf("%s; the token was granted, but the MSN could not be checked: %v", reached, err)
	}
	switch {
	case epayment.IsAuth(err):
		return "fail", fmt.Sprintf("%s, but Vipps MobilePay refuses the credentials (%d): no payment can be sent; copy client_id, client_secret and subscription_key of the sales unit (MSN %s) from the business portal (For developers) into [vipps] of %s, then restart tillbox",
			reached, epayment.StatusCode(err), c.Vipps.MSN, path)
	}
	return "warn", fmt.Sprintf("%s, but the credentials could not be checked: %v", reached, err)
}
