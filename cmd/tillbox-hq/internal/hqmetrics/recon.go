package hqmetrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/recon"
)

// ReconFigures reads the reconciliation's differences per store and kind
// and the last run's time (zero: never) at each scrape.
type ReconFigures func(ctx context.Context) ([]recon.Unmatched, time.Time, error)

// WatchRecon adds the reconciliation's differences against the settlement
// ledger (internal/recon, over its recent days) to /metrics.
func (m *Metrics) WatchRecon(figures ReconFigures, log *slog.Logger) {
	m.reg.MustRegister(&reconCollector{figures: figures, log: log})
}

var (
	descReconUnmatched = prometheus.NewDesc("tillbox_hq_recon_unmatched",
		"Differences between the tills' journal and the settlement ledger over the recent days reconciled, per store and kind (missing_on_ledger, missing_in_journal, amount_differs).",
		[]string{"store", "kind"}, nil)
	descReconAmount = prometheus.NewDesc("tillbox_hq_recon_unmatched_amount",
		"The amount of those differences in minor units (øre, cents), positive.", []string{"store", "kind"}, nil)
	descReconLast = prometheus.NewDesc("tillbox_hq_recon_last_run_timestamp_seconds",
		"When the reconciliation last ran (Unix time; 0: never).", nil, nil)
	descReconUp = prometheus.NewDesc("tillbox_hq_recon_scrape_ok",
		"1 when the reconciliation's figures could be read from PostgreSQL.", nil, nil)
)

type reconCollector struct {
	figures ReconFigures
	log     *slog.Logger
}

func (c *reconCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReconUnmatched, descReconAmount, descReconLast, descReconUp} {
		ch <- d
	}
}

func (c *reconCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	us, last, err := c.figures(ctx)
	if err != nil {
		c.log.Warn("metrics: reading the reconciliation", "err", err)
		ch <- prometheus.MustNewConstMetric(descReconUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descReconUp, prometheus.GaugeValue, 1)
	var at float64
	if !last.IsZero() {
		at = float64(last.UnixMilli()) / 1000
	}
	ch <- prometheus.MustNewConstMetric(descReconLast, prometheus.GaugeValue, at)
	for _, u := range us {
		ch <- prometheus.MustNewConstMetric(descReconUnmatched, prometheus.GaugeValue, float64(u.Count), u.Store, u.Kind)
		ch <- prometheus.MustNewConstMetric(descReconAmount, prometheus.GaugeValue, float64(u.Amount), u.Store, u.Kind)
	}
}
