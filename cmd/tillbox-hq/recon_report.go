package main

import (
	"context"
	"sync"

	"github.com/tillbox/tillbox/agent/epayment"
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
