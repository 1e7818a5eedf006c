// Package devicetest has a fake device.Scanner for the tests of the code
// that consumes scans (the agent, the manager), so that they need no pty.
package devicetest

import (
	"sync"
	"time"

	"github.com/tillbox/tillbox/device"
)

// Scanner is a device.Scanner that delivers what the test sends it.
type Scanner struct {
	name  string
	scans chan device.Scan
	done  chan struct{}

	sending sync.WaitGroup // Sends in flight, waited for before scans closes

	mu     sync.Mutex
	status device.Status
	closed bool
}

var _ device.Scanner = (*Scanner)(nil)

// New returns a connected fake scanner called name.
func New(name string) *Scanner {
	return &Scanner{
		name:   name,
		scans:  make(chan device.Scan),
		done:   make(chan struct{}),
		status: device.Status{Name: name, Driver: "fake", Connected: true, Mode: "fake"},
	}
}

// Send delivers a scan of data, as if read now, and waits until the
// consumer took it. It reports false when the scanner was closed first.
func (s *Scanner) Send(data string) bool {
	sc := device.Scan{Data: []byte(data), Source: s.name, At: time.Now()}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	// Counted as read before it is delivered, as the real drivers do: a
	// consumer that has the scan sees it in Status.
	s.sending.Add(1)
	s.status.Scans++
	s.status.LastScanAt = sc.At
	s.status.LastScan = device.Shorten(sc.Data)
	s.mu.Unlock()
	defer s.sending.Done()
	select {
	case s.scans <- sc:
		return true
	case <-s.done:
		return false
	}
}

// SetStatus changes what Status reports; Name and the counts kept by Send
// are the caller's to set.
func (s *Scanner) SetStatus(st device.Status) {
	s.mu.Lock()
	s.status = st
	s.mu.Unlock()
}

// Scans implements device.Scanner.
func (s *Scanner) Scans() <-chan device.Scan { return s.scans }

// Status implements device.Scanner.
func (s *Scanner) Status() device.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Close implements device.Scanner.
func (s *Scanner) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.status.Connected = false
	close(s.done)
	s.mu.Unlock()
	s.sending.Wait()
	close(s.scans)
	return nil
}
