package technician

import (
	"errors"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/classify"
)

// keepScans is how many of the latest scans the scan test shows.
const keepScans = 20

// Scan is one scan as the scan test shows it: never the whole code.
type Scan struct {
	Seq uint64    `json:"seq"`
	At  time.Time `json:"at"`
	// Sent is what the scanner sent, masked as the customer display masks
	// it: a personal QR code as the customer it names ("+47 ••• •• 678",
	// or "tokenised code"), anything else with its digits masked.
	Sent string `json:"sent"`
	// TakenFor is what the code was taken for: the pattern of personal QR
	// codes it matched, or why it is not one.
	TakenFor string `json:"takenFor"`
	// Outcome is what the agent did with it: bound, held or refused.
	Outcome   string `json:"outcome"`
	Reference string `json:"reference,omitempty"`
	Message   string `json:"message,omitempty"`
}

// scans keeps the latest scans the agent was handed.
type scans struct {
	c   *classify.Classifier
	now func() time.Time

	mu   sync.Mutex
	seq  uint64
	list []Scan // oldest first
}

// watch is the agent's Watcher.Scan: it returns at once.
func (s *scans) watch(code string, res agent.ScanResult, err error) {
	sc := Scan{At: s.now(), Outcome: res.Outcome, Reference: res.Reference, Message: res.Message}
	if name, cerr := s.c.Classify(code); cerr == nil {
		sc.TakenFor = "personal QR code (" + name + ")"
		if m, ok := s.c.MaskedNumber(code); ok {
			sc.Sent = m
		} else {
			sc.Sent = "tokenised code (no phone number)"
		}
	} else {
		sc.TakenFor = "not a personal QR code: " + cerr.Error()
		if r, ok := errors.AsType[*classify.Refusal](cerr); ok {
			sc.TakenFor = "not a personal QR code: " + r.Reason.Message()
		}
		sc.Sent = device.Shorten([]byte(code))
	}
	if err != nil {
		if sc.Outcome == "" {
			sc.Outcome = "refused"
		}
		if sc.Message == "" {
			sc.Message = err.Error()
		}
	}
	// The agent's message may quote the code: mask its digits as well.
	sc.Message = device.Shorten([]byte(sc.Message))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	sc.Seq = s.seq
	s.list = append(s.list, sc)
	if len(s.list) > keepScans {
		s.list = append(s.list[:0:0], s.list[len(s.list)-keepScans:]...)
	}
}

// latest returns the scans kept, newest first.
func (s *scans) latest() []Scan {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Scan, len(s.list))
	for i, sc := range s.list {
		out[len(s.list)-1-i] = sc
	}
	return out
}
