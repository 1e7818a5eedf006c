package uevent

import "sync"

// Manual is a Source whose events are told by Plug: for tests, and for a
// caller that learns of hotplug some other way.
type Manual struct {
	mu   sync.Mutex
	next chan struct{}
}

var _ Source = (*Manual)(nil)

// Next implements Source.
func (m *Manual) Next() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.next == nil {
		m.next = make(chan struct{})
	}
	return m.next
}

// Plug wakes the waiters, as a hotplug event would.
func (m *Manual) Plug() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.next != nil {
		close(m.next)
		m.next = nil
	}
}
