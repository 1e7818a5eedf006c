package hqmetrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/alerts"
)

// OpenAlerts reads the chain's open alerts at each scrape.
type OpenAlerts func(ctx context.Context) ([]alerts.Alert, error)

// WatchAlerts adds the alerts (headquarters' judgement, from PostgreSQL)
// and the raw figures of each till's last heartbeat that a Prometheus
// rule needs (docs/prometheus/tillbox-hq.rules.yml) to /metrics.
func (m *Metrics) WatchAlerts(tills TillStates, open OpenAlerts, now func() time.Time, log *slog.Logger) {
	m.reg.MustRegister(&alertCollector{tills: tills, open: open, now: now, log: log})
}

var (
	descAlert = prometheus.NewDesc("tillbox_hq_alert",
		"1 for each open alert of a till (kind: link_down, credentials_refused, queue_near_cap, queue_growing, journal_lag, scanner_missing, clock_skew, version_behind).",
		[]string{"kind", "store", "till"}, nil)
	descAlertSince = prometheus.NewDesc("tillbox_hq_alert_since_timestamp_seconds",
		"When each open alert was first seen (Unix time).", []string{"kind", "store", "till"}, nil)
	descAlerts = prometheus.NewDesc("tillbox_hq_alerts",
		"Open alerts of the chain by kind (0 included).", []string{"kind"}, nil)
	descAlertsUp = prometheus.NewDesc("tillbox_hq_alerts_scrape_ok",
		"1 when the alerts and the tills could be read from PostgreSQL.", nil, nil)
	descHeartbeatAge = prometheus.NewDesc("tillbox_hq_till_heartbeat_age_seconds",
		"Seconds since the till's last heartbeat reached the NATS servers.", []string{"store", "till"}, nil)
	descQueue = prometheus.NewDesc("tillbox_hq_till_queue",
		"Commands in the till's outbox (its last heartbeat).", []string{"store", "till"}, nil)
	descQueueCap = prometheus.NewDesc("tillbox_hq_till_queue_cap",
		"The till's outbox cap, sales.max_queued (0: the box did not say).", []string{"store", "till"}, nil)
	descSkew = prometheus.NewDesc("tillbox_hq_till_clock_skew_seconds",
		"The till's clock less the NATS servers' at its last heartbeat (positive: ahead).", []string{"store", "till"}, nil)
	descRefused = prometheus.NewDesc("tillbox_hq_till_credentials_refused",
		"1 while Vipps MobilePay refuses the till's credentials (its last heartbeat).", []string{"store", "till"}, nil)
	descMissing = prometheus.NewDesc("tillbox_hq_till_scanners_missing",
		"Configured scanners of the till not connected (its last heartbeat).", []string{"store", "till"}, nil)
	descInfo = prometheus.NewDesc("tillbox_hq_till_info",
		"1 per till, with the version its last heartbeat gave.", []string{"store", "till", "version"}, nil)
)

type alertCollector struct {
	tills TillStates
	open  OpenAlerts
	now   func() time.Time
	log   *slog.Logger
}

func (c *alertCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAlert, descAlertSince, descAlerts, descAlertsUp, descHeartbeatAge,
		descQueue, descQueueCap, descSkew, descRefused, descMissing, descInfo} {
		ch <- d
	}
}

func (c *alertCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	open, err := c.open(ctx)
	var ts []hqdbTill
	if err == nil {
		ts, err = c.readTills(ctx)
	}
	if err != nil {
		c.log.Warn("metrics: reading the alerts", "err", err)
		ch <- prometheus.MustNewConstMetric(descAlertsUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descAlertsUp, prometheus.GaugeValue, 1)
	perKind := map[string]int{}
	for _, a := range open {
		perKind[a.Kind]++
		ch <- prometheus.MustNewConstMetric(descAlert, prometheus.GaugeValue, 1, a.Kind, a.Till.Store, a.Till.Till)
		ch <- prometheus.MustNewConstMetric(descAlertSince, prometheus.GaugeValue, float64(a.Since.UnixMilli())/1000, a.Kind, a.Till.Store, a.Till.Till)
	}
	for _, k := range alerts.Kinds {
		ch <- prometheus.MustNewConstMetric(descAlerts, prometheus.GaugeValue, float64(perKind[k]), k)
	}
	now := c.now()
	for _, t := range ts {
		g := func(d *prometheus.Desc, v float64, more ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{t.store, t.till}, more...)...)
		}
		g(descHeartbeatAge, now.Sub(t.heardAt).Seconds())
		g(descQueue, float64(t.queue))
		g(descQueueCap, float64(t.queueCap))
		g(descSkew, t.skew.Seconds())
		g(descRefused, t.refused)
		g(descMissing, float64(t.missing))
		g(descInfo, 1, t.version)
	}
}

// hqdbTill is what the raw gauges take of a till heard of.
type hqdbTill struct {
	store, till, version string
	heardAt              time.Time
	queue, queueCap      int
	skew                 time.Duration
	refused              float64
	missing              int
}

func (c *alertCollector) readTills(ctx context.Context) ([]hqdbTill, error) {
	states, err := c.tills(ctx)
	if err != nil {
		return nil, err
	}
	var out []hqdbTill
	for _, s := range states {
		if s.HeardAt.IsZero() {
			continue
		}
		hb := s.Heartbeat
		t := hqdbTill{store: s.Till.Store, till: s.Till.Till, version: hb.Version, heardAt: s.HeardAt,
			queue: hb.Queue, queueCap: hb.QueueCap}
		if !hb.At.IsZero() {
			t.skew = hb.At.Sub(s.HeardAt)
		}
		if hb.Auth == wire.AuthRefused {
			t.refused = 1
		}
		for _, sc := range hb.Scanners {
			if !sc.Connected {
				t.missing++
			}
		}
		out = append(out, t)
	}
	return out, nil
}
