// Package gcpolicy is how tillbox runs Go's garbage collector.
//
// A till box is idle most of the day and allocates little then; after an
// outage it drains its queue of commands to Vipps MobilePay, allocating
// some 40 KB per command (HTTP, JSON, bbolt pages). With Go's default
// (GOGC=100) the collector then runs about a hundred times a drain of
// 10 000 captures and costs about a fifth of the agent's CPU. tillbox lets
// the heap grow to five times what is live (GOGC=400) and bounds it with a
// soft memory limit instead, so the collector runs far less while draining
// and the process stays small: measured in agent/bench (docs/benchmarks.md),
// idle RSS stays about 17 MB and the peak with 100 000 commands queued
// about 32 MB (goals: 20 MB and 64 MB).
//
// An operator's GOGC or GOMEMLIMIT in the environment (systemd's
// Environment=) wins over these.
package gcpolicy

import (
	"os"
	"runtime/debug"
)

const (
	// Percent is the GOGC tillbox runs with.
	Percent = 400
	// MemoryLimit is the soft limit of the Go runtime's memory (heap,
	// stacks, runtime structures; not the database's mapped file): near
	// it the collector works harder, whatever Percent allows.
	MemoryLimit = 48 << 20
)

// Apply sets Percent and MemoryLimit for this process, each unless the
// environment sets it (GOGC, GOMEMLIMIT), and returns what is in force.
func Apply() (percent int, limit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(Percent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
	return Current()
}

// Current returns the GOGC and memory limit in force.
func Current() (percent int, limit int64) {
	percent = debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1)
}
