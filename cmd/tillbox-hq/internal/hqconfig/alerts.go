package hqconfig

import (
	"fmt"
	"regexp"
	"time"
)

// Alerts is the [alerts] section: when headquarters calls a box unhealthy
// (cmd/tillbox-hq/internal/alerts, docs/chain.md "Alerts"). A till is
// "link down" once it is not connected (no heartbeat for three
// heartbeat_intervals); the other thresholds are these.
type Alerts struct {
	// Every is how often the alerts are worked out; 0: every
	// hq.heartbeat_interval.
	Every Duration `toml:"every"`
	// QueueNear is the share of the box's outbox cap (sales.max_queued)
	// from which its queue is "near its cap".
	QueueNear float64 `toml:"queue_near"`
	// QueueGrowingBeats is how many heartbeats in a row the queue must grow
	// (never shrinking) to be "growing".
	QueueGrowingBeats int `toml:"queue_growing_beats"`
	// MaxJournalLag is how many events of a box's log may wait to reach
	// headquarters.
	MaxJournalLag uint64 `toml:"max_journal_lag"`
	// MaxClockSkew is how far a box's clock may be from the NATS servers'.
	MaxClockSkew Duration `toml:"max_clock_skew"`
	// MinVersion: a box older than this (or than the newest version in the
	// fleet) is "version behind"; empty: the newest in the fleet only.
	MinVersion string `toml:"min_version"`
}

// DefaultAlerts are [alerts]' defaults.
func DefaultAlerts() Alerts {
	return Alerts{QueueNear: 0.8, QueueGrowingBeats: 3, MaxJournalLag: 500,
		MaxClockSkew: Duration(30 * time.Second)}
}

var semverPattern = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// EveryOr is Every, or interval when Every is 0.
func (a Alerts) EveryOr(interval time.Duration) time.Duration {
	if a.Every == 0 {
		return interval
	}
	return a.Every.D()
}

func (a Alerts) validate() []Problem {
	var ps []Problem
	fail := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if a.Every != 0 && a.Every.D() < 100*time.Millisecond {
		fail("alerts.every", "at least 100ms (0: every hq.heartbeat_interval)")
	}
	if a.QueueNear <= 0 || a.QueueNear > 1 {
		fail("alerts.queue_near", "a share of the cap above 0 and at most 1 (e.g. 0.8)")
	}
	if a.QueueGrowingBeats < 2 || a.QueueGrowingBeats > 1000 {
		fail("alerts.queue_growing_beats", "2 to 1000 heartbeats")
	}
	if a.MaxJournalLag < 1 {
		fail("alerts.max_journal_lag", "at least 1 event")
	}
	if a.MaxClockSkew.D() < time.Second {
		fail("alerts.max_clock_skew", "at least 1s")
	}
	if a.MinVersion != "" && !semverPattern.MatchString(a.MinVersion) {
		fail("alerts.min_version", "%q is not a version like v1.4.0", a.MinVersion)
	}
	return ps
}
