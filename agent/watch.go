package agent

import "sync"

// Watcher is told what the agent does that its event log does not hold: the
// scans it was handed and whether Vipps MobilePay answers. The customer
// display follows them. The funcs run on the agent's goroutines, one call at
// a time per kind: they must return at once and must not call the agent.
type Watcher struct {
	// Scan gets every scan handed to Agent.Scan, after it was handled, with
	// what became of it. code is the whole scanned text, which may hold a
	// phone number: mask it before showing it, never log it.
	Scan func(code string, res ScanResult, err error)
	// Online gets the agent's view of the network each time it changes
	// (false: ePayment did not answer and the outbox works offline). Calls
	// carry the state at the time of the call, so the last one is right.
	Online func(online bool)
}

// watchers are the Watchers of an Agent.
type watchers struct {
	mu   sync.Mutex
	list []*Watcher
}

// Watch registers w until the returned stop is called.
func (a *Agent) Watch(w Watcher) (stop func()) {
	p := &w
	a.watch.mu.Lock()
	a.watch.list = append(a.watch.list, p)
	a.watch.mu.Unlock()
	return func() {
		a.watch.mu.Lock()
		defer a.watch.mu.Unlock()
		for i, q := range a.watch.list {
			if q == p {
				a.watch.list = append(a.watch.list[:i:i], a.watch.list[i+1:]...)
				return
			}
		}
	}
}

// Scan takes the whole text of a personal QR code from a scanner. Whether the
// text is a personal QR code at all is for the caller (the scanner's
// classifier) to decide; the agent checks only what ePayment checks. The
// watchers are told what became of it.
func (a *Agent) Scan(code string) (ScanResult, error) {
	res, err := a.scanCode(code)
	a.watch.mu.Lock()
	defer a.watch.mu.Unlock()
	for _, w := range a.watch.list {
		if w.Scan != nil {
			w.Scan(code, res, err)
		}
	}
	return res, err
}

// notifyOnline tells the watchers the agent's current view of the network.
// Holding watch.mu while reading it keeps the calls in order: the last call
// carries the last change.
func (a *Agent) notifyOnline() {
	a.watch.mu.Lock()
	defer a.watch.mu.Unlock()
	a.mu.Lock()
	online := a.online
	a.mu.Unlock()
	for _, w := range a.watch.list {
		if w.Online != nil {
			w.Online(online)
		}
	}
}
