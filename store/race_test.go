//go:build race

package store

// raceEnabled: the race detector multiplies memory use and slows I/O-bound
// loops; tests that measure resources relax.
const raceEnabled = true
