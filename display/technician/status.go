package technician

import (
	"slices"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/store"
)

// recentSales is how many of the latest sales the status page lists.
const recentSales = 15

// Status is what the status page shows. It holds no secret and no whole
// phone number or scanned code.
type Status struct {
	Version  string
	TLS      string // the SHA-256 fingerprint of the box's TLS certificate, or "" (plain HTTP)
	Now      time.Time
	Started  time.Time
	Uptime   time.Duration
	Scanners []device.Status
	Agent    agent.Status
	Health   Health        // the token and the clocks (health.go)
	Fleet    *fleet.Status // the link to headquarters; nil when off
	AgentErr string
	DB       store.Stats
	DBErr    string
	DBPath   string
	Sales    []agent.Sale // newest first, customers masked
	SalesErr string
}

// status gathers the box's status now.
func (c *Console) status() Status {
	now := c.now()
	st := Status{Version: c.o.Version, TLS: c.o.TLSFingerprint, Now: now, Started: c.o.Started, Uptime: now.Sub(c.o.Started).Round(time.Second)}
	if c.o.Scanners != nil {
		st.Scanners = c.o.Scanners()
	}
	st.Health = c.health(now)
	if c.o.Fleet != nil {
		fs := c.o.Fleet()
		st.Fleet = &fs
	}
	var err error
	if st.Agent, err = c.o.Agent.Status(); err != nil {
		st.AgentErr = err.Error()
	}
	if c.o.DB != nil {
		st.DBPath = c.o.DB.Path()
		if st.DB, err = c.o.DB.Stats(); err != nil {
			st.DBErr = err.Error()
		}
	}
	if st.Sales, err = c.recentSales(); err != nil {
		st.SalesErr = err.Error()
	}
	return st
}

// recentSales reads the kept sales (their number is bounded by the
// store's retention) and returns the latest, newest first.
func (c *Console) recentSales() ([]agent.Sale, error) {
	var all []agent.Sale
	after := ""
	for {
		page, err := c.o.Agent.ListSales(after, 500)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].Reference
	}
	slices.SortFunc(all, func(a, b agent.Sale) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return all[:min(len(all), recentSales)], nil
}
