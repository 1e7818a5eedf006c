package uevent

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestListenerWakes: a scanner-like device added wakes every waiter once;
// other events wake no one.
func TestListenerWakes(t *testing.T) {
	l := newListener(Event.Plugged)
	a, b := l.Next(), l.Next()
	l.handle(netAdd)
	l.handle(hidrawRemove)
	l.handle([]byte("garbage"))
	if closed(a) || l.Events() != 0 {
		t.Fatal("woken by an event that is no scanner appearing")
	}
	l.handle(ttyAdd)
	if !closed(a) || !closed(b) || l.Events() != 1 {
		t.Fatal("waiters not woken by a serial port added")
	}
	c := l.Next()
	if closed(c) {
		t.Fatal("a waiter after the event is woken by it")
	}
	l.handle(usbBind)
	if !closed(c) || l.Events() != 2 {
		t.Fatal("waiter not woken by a USB device bound")
	}
}

// TestListenSocket opens a real NETLINK_KOBJECT_UEVENT socket: Close wakes
// the waiters, and Next is nil afterwards (timed retries from then on).
func TestListenSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := Listen(); err == nil {
			t.Fatal("Listen worked on", runtime.GOOS)
		}
		t.Skip("uevents are Linux's")
	}
	l, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	ch := l.Next()
	if ch == nil || closed(ch) {
		t.Fatal("no waiting on a fresh listener")
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	<-ch // woken by Close
	if l.Next() != nil || l.Err() != nil {
		t.Errorf("after Close: Next %v, Err %v", l.Next(), l.Err())
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestListenKernelEvent has the kernel send a synthetic uevent (a "change"
// of tty0 tagged with a UUID, harmless to udev) and sees it arrive on the
// socket. Where the kernel's uevents do not reach this process (a sandbox
// in its own network namespace, /sys read-only) it is skipped; the
// emulated box's test (scripts/hil TestScanners) has real ones.
func TestListenKernelEvent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uevents are Linux's")
	}
	const uuid = "6d1b3c0e-5f7a-4b2e-9c1d-2a3b4c5d6e7f"
	l, err := listen(func(e Event) bool { return e.Env["SYNTH_UUID"] == uuid })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := l.Next()
	if err := os.WriteFile("/sys/class/tty/tty0/uevent", []byte("change "+uuid), 0); err != nil {
		t.Skipf("cannot have the kernel send a uevent: %v", err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Skip("the kernel's uevents do not reach this process (its own network namespace?)")
	}
	if l.Err() != nil || l.Events() != 1 {
		t.Errorf("Err %v, %d events", l.Err(), l.Events())
	}
}
