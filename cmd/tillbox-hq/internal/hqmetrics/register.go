package hqmetrics

import "github.com/prometheus/client_golang/prometheus"

// Register adds a part's own collector (the token broker's counter) to
// /metrics.
func (m *Metrics) Register(c prometheus.Collector) { m.reg.MustRegister(c) }
