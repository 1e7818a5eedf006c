package gcpolicy

import (
	"runtime/debug"
	"testing"
)

// restore puts the collector's settings back as they were.
func restore(t *testing.T) {
	percent := debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
}

func TestApply(t *testing.T) {
	restore(t)
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	debug.SetGCPercent(100)
	percent, limit := Apply()
	if percent != Percent || limit != MemoryLimit {
		t.Errorf("Apply: GOGC %d, limit %d; want %d, %d", percent, limit, Percent, MemoryLimit)
	}
	if got := debug.SetGCPercent(-1); got != Percent {
		t.Errorf("the runtime runs with GOGC %d", got)
	}
}

// An operator's GOGC and GOMEMLIMIT win: the runtime read them at start,
// and Apply leaves them.
func TestApplyLeavesTheOperatorsSettings(t *testing.T) {
	restore(t)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "100MiB")
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(100 << 20)
	if percent, limit := Apply(); percent != 150 || limit != 100<<20 {
		t.Errorf("Apply over the environment's settings: GOGC %d, limit %d", percent, limit)
	}
}
