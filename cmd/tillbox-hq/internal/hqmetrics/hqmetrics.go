// Package hqmetrics is headquarters' /metrics (Prometheus): tills online,
// each till's journal lag, webhook relay deliveries by result, and the
// journal ingest's events and batch latency. Boxes behind NAT cannot be
// scraped; headquarters speaks for them.
package hqmetrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

// Results of a webhook delivery, the label of tillbox_hq_relay_deliveries_total.
const (
	RelayRouted      = "routed"      // published to its till's relay subject
	RelayUnrouted    = "unrouted"    // no till claims the reference (or there is none): kept on the unrouted subject
	RelayForged      = "forged"      // the signature does not match: 401
	RelayBad         = "bad_request" // too large, or an unknown sales unit
	RelayUnavailable = "unavailable" // NATS did not take it: 503, Vipps MobilePay retries
)

// Metrics are headquarters' counters; safe for concurrent use.
type Metrics struct {
	reg          *prometheus.Registry
	relay        *prometheus.CounterVec
	events       *prometheus.CounterVec
	batchSeconds prometheus.Histogram
	heartbeats   prometheus.Counter
}

// TillStates reads the tills at each scrape.
type TillStates func(ctx context.Context) ([]hqdb.TillState, error)

// New makes the metrics; tills (nil: none) are read at each scrape, a till
// is online while its last heartbeat is younger than 3 × interval by now.
func New(tills TillStates, interval time.Duration, now func() time.Time, log *slog.Logger) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		relay: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillbox_hq_relay_deliveries_total",
			Help: "Vipps MobilePay webhook deliveries received, by result.",
		}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillbox_hq_ingest_events_total",
			Help: "Journal events taken from the stream: new (stored), duplicate (already stored), rejected (unreadable).",
		}, []string{"result"}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tillbox_hq_ingest_batch_seconds",
			Help:    "Time to write one batch of journal events to PostgreSQL (one transaction).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillbox_hq_heartbeats_total",
			Help: "Box heartbeats recorded.",
		}),
	}
	for _, r := range []string{RelayRouted, RelayUnrouted, RelayForged, RelayBad, RelayUnavailable} {
		m.relay.WithLabelValues(r)
	}
	for _, r := range []string{"new", "duplicate", "rejected"} {
		m.events.WithLabelValues(r)
	}
	m.reg.MustRegister(m.relay, m.events, m.batchSeconds, m.heartbeats,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if tills != nil {
		m.reg.MustRegister(&tillCollector{tills: tills, interval: interval, now: now, log: log})
	}
	return m
}

// Relay counts one webhook delivery.
func (m *Metrics) Relay(result string) { m.relay.WithLabelValues(result).Inc() }

// Batch records one ingested batch.
func (m *Metrics) Batch(newEvents, duplicates int, took time.Duration) {
	m.events.WithLabelValues("new").Add(float64(newEvents))
	m.events.WithLabelValues("duplicate").Add(float64(duplicates))
	m.batchSeconds.Observe(took.Seconds())
}

// Rejected counts journal messages that could not be read.
func (m *Metrics) Rejected(n int) { m.events.WithLabelValues("rejected").Add(float64(n)) }

// Heartbeats counts heartbeats recorded.
func (m *Metrics) Heartbeats(n int) { m.heartbeats.Add(float64(n)) }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// tillCollector reads the tills from PostgreSQL at each scrape.
type tillCollector struct {
	tills    TillStates
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
}

var (
	descKnown  = prometheus.NewDesc("tillbox_hq_tills", "Tills headquarters has heard of.", nil, nil)
	descOnline = prometheus.NewDesc("tillbox_hq_tills_online",
		"Tills whose last heartbeat is younger than three heartbeat intervals.", nil, nil)
	descLag = prometheus.NewDesc("tillbox_hq_till_journal_lag",
		"Events of the till's log not yet at headquarters (its last heartbeat's newest sequence less the newest stored).",
		[]string{"store", "till"}, nil)
	descAtHQ = prometheus.NewDesc("tillbox_hq_till_journal_seq",
		"The newest sequence of the till's log stored at headquarters.", []string{"store", "till"}, nil)
	descUp = prometheus.NewDesc("tillbox_hq_tills_scrape_ok", "1 when the tills could be read from PostgreSQL.", nil, nil)
)

func (c *tillCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descKnown, descOnline, descLag, descAtHQ, descUp} {
		ch <- d
	}
}

func (c *tillCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := c.tills(ctx)
	if err != nil {
		c.log.Warn("metrics: reading the tills", "err", err)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	now, online := c.now(), 0
	for _, t := range ts {
		if Online(t, now, c.interval) {
			online++
		}
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(t.Lag()), t.Till.Store, t.Till.Till)
		ch <- prometheus.MustNewConstMetric(descAtHQ, prometheus.GaugeValue, float64(t.AtHQ), t.Till.Store, t.Till.Till)
	}
	ch <- prometheus.MustNewConstMetric(descKnown, prometheus.GaugeValue, float64(len(ts)))
	ch <- prometheus.MustNewConstMetric(descOnline, prometheus.GaugeValue, float64(online))
}

// Online reports whether t's last heartbeat is younger than three
// heartbeat intervals at now.
func Online(t hqdb.TillState, now time.Time, interval time.Duration) bool {
	return !t.HeardAt.IsZero() && now.Sub(t.HeardAt) < 3*interval
}
