//go:build !unix

package store

import "time"

// cpuTime is not measured here; benchmarks then skip the metric.
func cpuTime() (user, system time.Duration) { return 0, 0 }
