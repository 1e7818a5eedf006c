package hqconfig

import (
	"fmt"
	"net/url"
	"time"
)

// Recon is the [recon] section: the reconciliation of the tills' journal
// against the Vipps MobilePay settlement ledger (cmd/tillbox-hq/internal/
// recon, docs/chain.md "Reconciliation").
type Recon struct {
	// Every is how often the recent days are reconciled again.
	Every Duration `toml:"every"`
	// Grace is how long a journaled capture or refund may be absent from
	// the ledger before it is called missing (the Report API lags by
	// hours).
	Grace Duration `toml:"grace"`
	// Days is how many days back from today each round looks at (a day is
	// run until its ledger date is closed and its grace is over).
	Days int `toml:"days"`
	// BaseURL is the Report API's host; empty: [vipps] base_url, the host
	// of every Vipps MobilePay API.
	BaseURL string `toml:"base_url"`
}

// DefaultRecon are [recon]'s defaults.
func DefaultRecon() Recon {
	return Recon{Every: Duration(time.Hour), Grace: Duration(6 * time.Hour), Days: 7}
}

func (r Recon) validate() []Problem {
	var ps []Problem
	fail := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if r.Every.D() < time.Second {
		fail("recon.every", "at least 1s (e.g. 1h)")
	}
	if r.Grace.D() < 0 {
		fail("recon.grace", "not negative (e.g. 6h)")
	}
	if r.Days < 1 || r.Days > 400 {
		fail("recon.days", "1 to 400 days")
	}
	if r.BaseURL == "" {
		return ps
	}
	u, err := url.Parse(r.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		fail("recon.base_url", "%q is not an http(s) URL (e.g. https://api.vipps.no)", r.BaseURL)
	}
	return ps
}

// ReportURL is the Report API's host: recon.base_url, else vipps.base_url.
func (c *Config) ReportURL() string {
	if c.Recon.BaseURL != "" {
		return c.Recon.BaseURL
	}
	return c.Vipps.BaseURL
}
