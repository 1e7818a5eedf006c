package clock

import (
	"slices"
	"testing"
	"time"
)

var testStart = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func TestFakeFiresInOrder(t *testing.T) {
	c := NewFake(testStart)
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

func TestFakeZeroDelayFiresOnAdvanceZero(t *testing.T) {
	c := NewFake(testStart)
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

func TestFakeStopAfterFiring(t *testing.T) {
	c := NewFake(testStart)
	stop := c.AfterFunc(time.Second, func() {})
	c.Advance(time.Second)
	if stop() {
		t.Fatal("stop of a fired timer reported true")
	}
}

func TestReal(t *testing.T) {
	var c Clock = Real{}
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a 1 ms timer of the real clock did not fire within 5 s")
	}
	stop := c.AfterFunc(time.Hour, func() { t.Error("fired") })
	if !stop() {
		t.Fatal("stop of a pending real timer reported false")
	}
	if d := time.Since(c.Now()); d < 0 || d > time.Minute {
		t.Fatalf("Now is %v from time.Now", d)
	}
}

var (
	_ Clock = Real{}
	_ Clock = (*Fake)(nil)
)
