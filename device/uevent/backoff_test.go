package uevent

import (
	"testing"
	"time"
)

// waits runs failed attempts until the backoff waits for hotplug events
// (or n attempts), and returns the waits it used.
func waits(t *testing.T, b *Backoff, n int) []time.Duration {
	t.Helper()
	var got []time.Duration
	for range n {
		b.Arm()
		if b.Idling() {
			return got
		}
		got = append(got, b.Upcoming())
		if w := b.Wait(nil); w != Timer {
			t.Fatalf("short wait ended by %v", w)
		}
	}
	return got
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBackoffHotplug: short waits doubling up to Max, then a wait that
// only a hotplug event ends (Idle is an hour), then short waits again.
func TestBackoffHotplug(t *testing.T) {
	var hp Manual
	b := &Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond, Idle: time.Hour, Hotplug: &hp}
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}
	if got := waits(t, b, 10); !equal(got, want) {
		t.Fatalf("short waits %v, want %v then waiting for hotplug", got, want)
	}
	if b.Upcoming() != time.Hour {
		t.Errorf("upcoming %v while idling", b.Upcoming())
	}
	woken := make(chan Woken)
	go func() { woken <- b.Wait(nil) }()
	hp.Plug()
	if w := <-woken; w != Hotplug {
		t.Fatalf("woken by %v", w)
	}
	// The device may need a moment more (udev's rules): short waits again.
	if got := waits(t, b, 10); !equal(got, want) {
		t.Fatalf("after the event: short waits %v, want %v", got, want)
	}
	// An event between an attempt and the wait is not missed.
	b.Arm()
	hp.Plug()
	if w := b.Wait(nil); w != Hotplug {
		t.Fatalf("event before the wait: woken by %v", w)
	}
	// Reset after an open starts the short waits again.
	waits(t, b, 10)
	b.Reset()
	if b.Arm(); b.Idling() || b.Upcoming() != time.Millisecond {
		t.Errorf("after Reset: idling %v, upcoming %v", b.Idling(), b.Upcoming())
	}
}

// TestBackoffIdleTimer: without an event the idle wait ends after Idle.
func TestBackoffIdleTimer(t *testing.T) {
	b := &Backoff{Min: time.Millisecond, Max: time.Millisecond, Idle: time.Millisecond, Hotplug: &Manual{}}
	waits(t, b, 10)
	b.Arm()
	if !b.Idling() {
		t.Fatal("not idling")
	}
	if w := b.Wait(nil); w != Timer {
		t.Fatalf("woken by %v", w)
	}
}

// TestBackoffNoHotplug: without a source, or with Idle negative, or once
// the source stopped working, the waits stay at Max.
func TestBackoffNoHotplug(t *testing.T) {
	l := newListener(Event.Plugged)
	l.end(nil) // a listener whose socket broke: Next is nil
	for name, b := range map[string]*Backoff{
		"no source":     {Min: time.Millisecond, Max: 2 * time.Millisecond},
		"idle negative": {Min: time.Millisecond, Max: 2 * time.Millisecond, Idle: -1, Hotplug: &Manual{}},
		"broken source": {Min: time.Millisecond, Max: 2 * time.Millisecond, Hotplug: l},
	} {
		got := waits(t, b, 5)
		want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond}
		if !equal(got, want) {
			t.Errorf("%s: waits %v, want %v", name, got, want)
		}
	}
}

// TestBackoffStop: closing stop ends both kinds of wait.
func TestBackoffStop(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	b := &Backoff{Min: time.Hour, Max: time.Hour, Idle: time.Hour, Hotplug: &Manual{}}
	b.Arm()
	if w := b.Wait(stop); w != Stopped {
		t.Fatalf("short wait: %v", w)
	}
	b.Arm()
	if !b.Idling() {
		t.Fatal("not idling after a wait of Max")
	}
	if w := b.Wait(stop); w != Stopped {
		t.Fatalf("idle wait: %v", w)
	}
}
