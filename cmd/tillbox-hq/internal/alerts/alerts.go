// Package alerts is why a box is unhealthy, as headquarters sees it: link
// down, Vipps MobilePay refusing its credentials, its queue growing or
// near its cap, its journal lagging, a scanner missing, its clock skewed,
// its version behind. [Evaluate] works the alerts out of the tills'
// last heartbeats (a pure function, table-tested); [Watcher] runs it every
// few seconds and keeps the alerts in PostgreSQL (table alerts: since
// when, why, and when cleared), which the fleet page and /metrics read.
// docs/chain.md ("Alerts") lists the kinds and thresholds.
package alerts

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

// The kinds of alert (the label kind of tillbox_hq_alert).
const (
	LinkDown           = "link_down"           // no heartbeat for three heartbeat intervals
	CredentialsRefused = "credentials_refused" // Vipps MobilePay refuses the box's credentials
	QueueNearCap       = "queue_near_cap"      // the outbox near sales.max_queued
	QueueGrowing       = "queue_growing"       // the outbox grew over several heartbeats in a row
	JournalLag         = "journal_lag"         // events of the box's log not at headquarters
	ScannerMissing     = "scanner_missing"     // a configured scanner not connected
	ClockSkew          = "clock_skew"          // the box's clock against the NATS servers'
	VersionBehind      = "version_behind"      // older than the fleet's newest, or the configured minimum
)

// Kinds are every kind, in the order the page shows them.
var Kinds = []string{LinkDown, CredentialsRefused, QueueNearCap, QueueGrowing, JournalLag, ScannerMissing, ClockSkew, VersionBehind}

// Alert is one open alert of one till.
type Alert struct {
	Till   wire.Till
	Kind   string
	Since  time.Time // when it was first seen (for link_down: the last heartbeat)
	Reason string    // for people: what is wrong, with the figures
}

// Thresholds say when a box is unhealthy ([alerts] of tillbox-hq's
// configuration).
type Thresholds struct {
	// Heartbeat is the boxes' heartbeat interval: a till without a heartbeat
	// for three of them is link_down.
	Heartbeat         time.Duration
	QueueNear         float64 // share of the box's cap
	QueueGrowingBeats int     // heartbeats in a row
	MaxJournalLag     uint64
	MaxClockSkew      time.Duration
	MinVersion        string // "" none
}

// Trend is what headquarters remembers of a till's queue between
// evaluations: the last heartbeat seen, its queue, and the run of growth
// (Rises heartbeats that grew, none shrank, since From at FromQueue).
type Trend struct {
	HeardAt   time.Time
	Queue     int
	Rises     int
	From      time.Time
	FromQueue int
}

// Evaluate works out the alerts of tills at now: each with Since set to
// the time the condition is known from (the heartbeat that shows it), and
// the queue trends after these heartbeats. trends are those of the last
// evaluation (nil: none); it is not changed.
func Evaluate(now time.Time, th Thresholds, tills []hqdb.TillState, trends map[wire.Till]Trend) ([]Alert, map[wire.Till]Trend) {
	newest, newestText := newestVersion(th.MinVersion, tills)
	next := make(map[wire.Till]Trend, len(tills))
	var out []Alert
	for _, t := range tills {
		if t.HeardAt.IsZero() {
			continue // never heard of: nothing to judge (its events came without a heartbeat yet)
		}
		tr := nextTrend(trends[t.Till], t)
		next[t.Till] = tr
		add := func(kind string, since time.Time, format string, args ...any) {
			out = append(out, Alert{Till: t.Till, Kind: kind, Since: since, Reason: fmt.Sprintf(format, args...)})
		}
		hb, at := t.Heartbeat, t.HeardAt
		if now.Sub(at) >= 3*th.Heartbeat {
			add(LinkDown, at, "no heartbeat since %s (%s ago)", at.UTC().Format(time.DateTime+" MST"), round(now.Sub(at)))
		}
		if hb.Auth == wire.AuthRefused {
			why := "Vipps MobilePay refuses the box's credentials: no payment can be sent; check client_id, client_secret, subscription_key and msn"
			if hb.LastError != "" {
				why += " (" + hb.LastError + ")"
			}
			add(CredentialsRefused, at, "%s", why)
		}
		if hb.QueueNear(th.QueueNear) {
			add(QueueNearCap, at, "%d of %d commands queued (the cap, sales.max_queued); new sales are refused at the cap", hb.Queue, hb.QueueCap)
		}
		if tr.Rises >= th.QueueGrowingBeats {
			add(QueueGrowing, tr.From, "the queue grew from %d to %d over %d heartbeats", tr.FromQueue, tr.Queue, tr.Rises)
		}
		if lag := t.Lag(); lag > th.MaxJournalLag {
			add(JournalLag, at, "%d events not at headquarters (the box's newest is %d, headquarters has %d; bound %d)", lag, hb.LastSeq, t.AtHQ, th.MaxJournalLag)
		}
		if missing := missingScanners(hb); len(missing) > 0 {
			add(ScannerMissing, at, "scanner %s not connected", strings.Join(missing, ", "))
		}
		if skew := hb.At.Sub(at); !hb.At.IsZero() && (skew > th.MaxClockSkew || -skew > th.MaxClockSkew) {
			dir := "ahead of"
			if skew < 0 {
				dir, skew = "behind", -skew
			}
			add(ClockSkew, at, "the box's clock is %s %s the NATS servers' (bound %s)", round(skew), dir, th.MaxClockSkew)
		}
		if v, ok := parseVersion(hb.Version); ok && newestText != "" && v.compare(newest) < 0 {
			add(VersionBehind, at, "version %s, older than %s", hb.Version, newestText)
		}
	}
	sortAlerts(out)
	return out, next
}

// sortAlerts orders as by store, till and kind (in the order of Kinds).
func sortAlerts(as []Alert) {
	slices.SortFunc(as, func(a, b Alert) int {
		return cmp.Or(cmp.Compare(a.Till.Store, b.Till.Store), cmp.Compare(a.Till.Till, b.Till.Till),
			cmp.Compare(slices.Index(Kinds, a.Kind), slices.Index(Kinds, b.Kind)))
	})
}

// nextTrend is tr after t's heartbeat: a new heartbeat whose queue grew
// adds a rise, one that shrank (or emptied) ends the run.
func nextTrend(tr Trend, t hqdb.TillState) Trend {
	q := t.Heartbeat.Queue
	switch {
	case tr.HeardAt.IsZero():
		return Trend{HeardAt: t.HeardAt, Queue: q}
	case !t.HeardAt.After(tr.HeardAt):
		return tr // no new heartbeat
	case q > tr.Queue:
		if tr.Rises == 0 {
			tr.From, tr.FromQueue = tr.HeardAt, tr.Queue
		}
		tr.Rises++
	case q < tr.Queue || q == 0:
		tr.Rises, tr.From, tr.FromQueue = 0, time.Time{}, 0
	}
	tr.HeardAt, tr.Queue = t.HeardAt, q
	return tr
}

// newestVersion is the newest version among the tills' and min (as
// written, for the reason); "" when none is a version.
func newestVersion(min string, tills []hqdb.TillState) (version, string) {
	best, text := version{}, ""
	consider := func(s string) {
		if v, ok := parseVersion(s); ok && (text == "" || v.compare(best) > 0) {
			best, text = v, s
		}
	}
	consider(min)
	for _, t := range tills {
		if !t.HeardAt.IsZero() {
			consider(t.Heartbeat.Version)
		}
	}
	if text == min && min != "" {
		text = min + " (alerts.min_version)"
	} else if text != "" {
		text += " (the newest in the fleet)"
	}
	return best, text
}

func missingScanners(hb wire.Heartbeat) []string {
	var out []string
	for _, s := range hb.Scanners {
		if !s.Connected {
			out = append(out, s.Name)
		}
	}
	return out
}

// round is d to the second (a minute past an hour).
func round(d time.Duration) time.Duration {
	if d >= time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}
