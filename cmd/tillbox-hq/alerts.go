package main

import (
	"context"
	"time"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/alerts"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

// The alerts ([alerts], docs/chain.md "Alerts"): the watcher works them out
// of the tills' heartbeats into PostgreSQL; the fleet page and /metrics
// read them there.

// alertStore is the chain's alerts in PostgreSQL.
func (m *Main) alertStore() alerts.Store {
	return alerts.Store{Pool: m.db.Pool(), Chain: m.Config.HQ.Chain}
}

// watchAlerts adds the alerts and their raw figures to /metrics (open).
func (m *Main) watchAlerts() {
	m.metrics.WatchAlerts(m.tillStates, m.alertStore().Open, time.Now, m.log)
}

func (m *Main) tillStates(ctx context.Context) ([]hqdb.TillState, error) {
	return m.db.TillStates(ctx, m.Config.HQ.Chain)
}

// runAlerts evaluates the alerts until ctx ends (work, once the schema is
// there).
func (m *Main) runAlerts(ctx context.Context) {
	c := m.Config
	a := c.Alerts
	w := &alerts.Watcher{Store: m.alertStore(), Tills: m.tillStates, Every: a.EveryOr(c.HQ.HeartbeatInterval.D()),
		Log: m.log.With("component", "alerts"),
		Thresholds: alerts.Thresholds{Heartbeat: c.HQ.HeartbeatInterval.D(), QueueNear: a.QueueNear,
			QueueGrowingBeats: a.QueueGrowingBeats, MaxJournalLag: a.MaxJournalLag, MaxClockSkew: a.MaxClockSkew.D(),
			MinVersion: a.MinVersion}}
	w.Run(ctx)
}
