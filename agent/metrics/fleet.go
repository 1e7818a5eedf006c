package metrics

import "github.com/tillbox/tillbox/agent/fleet"

// writeFleet writes the series of the link to headquarters, when it is on.
// The lag is not a readiness failure (the box sells without headquarters):
// alert on it from here.
func writeFleet(e expo, status func() fleet.Status) {
	if status == nil {
		return
	}
	s := status()
	e.family("tillbox_fleet_connected", "gauge", "1 while the link to headquarters is connected.")
	e.sample("tillbox_fleet_connected", nil, b2f(s.Connected))
	e.family("tillbox_fleet_lag_events", "gauge", "Events of the box's log headquarters has not acknowledged yet.")
	e.sample("tillbox_fleet_lag_events", nil, float64(s.Lag))
	e.family("tillbox_fleet_shipped_seq", "gauge", "The newest event headquarters acknowledged.")
	e.sample("tillbox_fleet_shipped_seq", nil, float64(s.Shipped))
	e.family("tillbox_fleet_shipped_total", "counter", "Events shipped to headquarters since start.")
	e.sample("tillbox_fleet_shipped_total", nil, float64(s.Published))
	e.family("tillbox_fleet_relayed_total", "counter", "Webhooks relayed by headquarters and applied since start.")
	e.sample("tillbox_fleet_relayed_total", nil, float64(s.Relayed))
	e.family("tillbox_fleet_reconnects_total", "counter", "Connections to headquarters made again after one was lost, since start.")
	e.sample("tillbox_fleet_reconnects_total", nil, float64(s.Reconnects))
	e.family("tillbox_fleet_pruned_unshipped_events", "gauge", "Events pruned before they could be shipped (the link was off longer than the store keeps events).")
	pruned := 0.0
	if s.PrunedFrom > 0 {
		pruned = float64(s.PrunedTo - s.PrunedFrom + 1)
	}
	e.sample("tillbox_fleet_pruned_unshipped_events", nil, pruned)
}
