package sim

import (
	"testing"
	"time"
)

// The fake clock's tests are in agent/clock.

func TestScaledClock(t *testing.T) {
	c := NewScaledClock(1000)
	start := c.Now()
	done := make(chan time.Time, 1)
	c.AfterFunc(5*time.Second, func() { done <- c.Now() }) // 5 ms of real time
	select {
	case at := <-done:
		if d := at.Sub(start); d < 5*time.Second {
			t.Fatalf("fired after %v of simulated time, want >= 5s", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a 5 s timer at speed 1000 did not fire within 2 s")
	}
}
