package agenttest

import (
	"testing"
	"time"
)

// Bound is how long [Until] waits before it fails the test. It only keeps
// a broken test from hanging: it asserts nothing about speed, and is
// generous for a busy machine.
const Bound = 30 * time.Second

// Until waits until cond holds, looking every few milliseconds, and fails
// the test after [Bound] naming what it waited for ("the sale to be
// completed"). It must be called from the test's goroutine.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", Bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
