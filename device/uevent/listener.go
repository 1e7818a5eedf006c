package uevent

import (
	"sync"
)

// Source tells of hotplug events: Next returns a channel closed at the
// first event after the call, or nil when the source no longer works
// (its waiters then fall back to timed retries).
type Source interface {
	Next() <-chan struct{}
}

// Listener wakes its waiters at each uevent that Plugged accepts. It is a
// Source. Its reading goroutine runs until Close.
type Listener struct {
	match func(Event) bool
	stop  func() error  // closes the socket, ending the reading goroutine
	ended chan struct{} // closed when the reading goroutine returned

	mu      sync.Mutex
	next    chan struct{} // closed and replaced at each event; nil once ended
	err     error         // why the reading stopped, other than Close
	events  uint64        // events that woke the waiters
	closing bool
}

var _ Source = (*Listener)(nil)

func newListener(match func(Event) bool) *Listener {
	return &Listener{match: match, next: make(chan struct{}), ended: make(chan struct{})}
}

// Next implements Source.
func (l *Listener) Next() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// Events is how many events woke the waiters so far.
func (l *Listener) Events() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events
}

// Err is why the listener stopped reading events (nil while it reads, and
// after Close).
func (l *Listener) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close closes the socket and waits for the reading goroutine; waiters are
// woken, and Next returns nil from then on.
func (l *Listener) Close() error {
	l.mu.Lock()
	first := !l.closing
	l.closing = true
	l.mu.Unlock()
	var err error
	if first {
		err = l.stop()
	}
	<-l.ended
	return err
}

// handle wakes the waiters when msg is an event that matches.
func (l *Listener) handle(msg []byte) {
	e, err := Parse(msg)
	if err != nil || !l.match(e) {
		return
	}
	l.wake()
}

// wake closes the current channel and makes the next one.
func (l *Listener) wake() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next == nil {
		return
	}
	l.events++
	close(l.next)
	l.next = make(chan struct{})
}

// end is the reading goroutine's last act: err is why it stopped (ignored
// after Close). Waiters are woken and see nil from Next.
func (l *Listener) end(err error) {
	l.mu.Lock()
	if !l.closing {
		l.err = err
	}
	if l.next != nil {
		close(l.next)
		l.next = nil
	}
	l.mu.Unlock()
	close(l.ended)
}
