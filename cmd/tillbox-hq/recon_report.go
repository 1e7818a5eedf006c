package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/recon"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/reportapi"
)

// newReport is the Report API on baseURL for sales unit msn: its token
// from token, a token the API refused handed back to token once (so that
// its source fetches a new one), the subscription key sent when set.
func newReport(baseURL, msn string, key epayment.Secret, token ReconToken) (recon.Report, error) {
	var mu sync.Mutex
	var refused string
	c, err := reportapi.New(reportapi.Config{BaseURL: baseURL, SubscriptionKey: key,
		Token: func(ctx context.Context) (string, error) {
			mu.Lock()
			r := refused
			refused = ""
			mu.Unlock()
			return token(ctx, msn, r)
		},
		Refused: func(tok string) {
			mu.Lock()
			refused = tok
			mu.Unlock()
		},
	})
	if err != nil {
		return nil, err
	}
	return recon.ReportAPI(c), nil
}

// unitTokens is the Report API's token of each sales unit of c that holds
// its keys ([[unit]] client_id, client_secret, subscription_key: those the
// token broker uses), from a client of headquarters' own; nil when no unit
// holds them. A Main without a ReconToken reconciles with it.
func unitTokens(c *hqconfig.Config) ReconToken {
	clients := map[string]*epayment.Client{}
	for _, u := range c.Units {
		if !u.HasCredentials() {
			continue
		}
		cl, err := epayment.New(hqconfig.EPayment(c.Vipps.BaseURL, u))
		if err != nil {
			continue // Validate refused such a unit already
		}
		clients[u.MSN] = cl
	}
	if len(clients) == 0 {
		return nil
	}
	return func(ctx context.Context, msn, refused string) (string, error) {
		cl := clients[msn]
		if cl == nil {
			return "", fmt.Errorf("sales unit %s: headquarters holds no client_id, client_secret and subscription_key for it", msn)
		}
		tok, _, err := cl.AccessToken(ctx, epayment.Secret(refused))
		return tok.Reveal(), err
	}
}
