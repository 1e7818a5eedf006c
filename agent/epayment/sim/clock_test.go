package sim

import (
	"slices"
	"testing"
	"time"
)

func TestFakeClockFiresInOrder(t *testing.T) {
	c := NewFakeClock(testStart)
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, name+"@"+c.Now().Sub(testStart).String()) }
	}
	c.AfterFunc(3*time.Second, at("c"))
	c.AfterFunc(time.Second, at("a"))
	stop := c.AfterFunc(2*time.Second, at("never"))
	c.AfterFunc(time.Second, at("b")) // same time as a: set later, fires later
	c.AfterFunc(2*time.Second, func() {
		got = append(got, "chain@"+c.Now().Sub(testStart).String())
		c.AfterFunc(500*time.Millisecond, at("chained")) // due inside the same Advance
	})
	if !stop() {
		t.Fatal("stop of a pending timer reported false")
	}
	if stop() {
		t.Fatal("second stop reported true")
	}
	c.Advance(2600 * time.Millisecond)
	want := []string{"a@1s", "b@1s", "chain@2s", "chained@2.5s"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	if now := c.Now().Sub(testStart); now != 2600*time.Millisecond {
		t.Fatalf("now = %v after Advance", now)
	}
	if c.Timers() != 1 {
		t.Fatalf("%d timers pending, want 1", c.Timers())
	}
	c.Advance(time.Second)
	if got[len(got)-1] != "c@3s" {
		t.Fatalf("last fired %v", got)
	}
}

func TestFakeClockZeroDelayFiresOnAdvanceZero(t *testing.T) {
	c := NewFakeClock(testStart)
	fired := false
	c.AfterFunc(0, func() { fired = true })
	if fired {
		t.Fatal("fired inside AfterFunc")
	}
	c.Advance(0)
	if !fired || !c.Now().Equal(testStart) {
		t.Fatalf("fired=%v now=%v", fired, c.Now())
	}
}

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
