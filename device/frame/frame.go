// Package frame splits the byte stream of a serial scanner into scans: at a
// terminator (CR, LF, CRLF or any byte sequence) or at a gap in the bytes,
// with a bound on the size of a scan, and strips a configured prefix and
// suffix. It is pure: the caller passes the bytes and the time they came.
package frame

import (
	"bytes"
	"errors"
	"time"

	"github.com/tillbox/tillbox/device"
)

// Frame is one scan cut from the stream.
type Frame struct {
	// Data is the scan without terminator, prefix and suffix; never empty.
	// The bytes are kept as they came, UTF-8 or not.
	Data []byte
	// At is when its last byte (or its terminator) arrived.
	At time.Time
}

// Config says how to split a stream.
type Config struct {
	// Terminator ends a frame: a byte sequence, or a gap of Idle.
	Terminator device.Terminator
	// Affixes are stripped from each frame when present.
	Affixes Affixes
	// Max is the largest frame in bytes, terminator not counted; 0 means
	// device.MaxScan.
	Max int
}

// Splitter cuts a byte stream into frames. Feed it the bytes as they are
// read; with an idle terminator, also call Tick when Deadline passes. A
// Splitter is not safe for concurrent use.
//
// Rules:
//   - Empty frames (two terminators in a row) are skipped.
//   - A frame longer than Max is dropped whole: the bytes are thrown away up
//     to the next terminator (or gap), where reading starts again, and
//     Dropped counts it.
//   - With the terminator CR, an LF right after it is skipped, and with LF,
//     a CR right before it is removed: a scanner that ends its scans with
//     CRLF works with either setting.
type Splitter struct {
	term    []byte
	fail    []int // KMP failure function of term
	idle    time.Duration
	affixes Affixes
	max     int

	buf      []byte // the frame so far, including a partly matched terminator
	m        int    // bytes of term matched at the end of buf
	dropping bool   // the current frame overflowed: skip to its end
	skipLF   bool   // CR mode: the last byte ended a frame
	last     time.Time
	pending  bool // idle mode: bytes came since the last frame ended
	dropped  uint64
}

// ErrNoTerminator is returned by New when the configuration has neither
// terminator bytes nor an idle gap.
var ErrNoTerminator = errors.New("frame: no terminator: set terminator bytes or an idle gap")

// New returns a Splitter for c.
func New(c Config) (*Splitter, error) {
	if len(c.Terminator.Bytes) == 0 && c.Terminator.Idle <= 0 {
		return nil, ErrNoTerminator
	}
	if len(c.Terminator.Bytes) > 0 && c.Terminator.Idle > 0 {
		return nil, errors.New("frame: set either terminator bytes or an idle gap, not both")
	}
	s := &Splitter{term: []byte(c.Terminator.Bytes), idle: c.Terminator.Idle, affixes: c.Affixes, max: c.Max}
	if s.max <= 0 {
		s.max = device.MaxScan
	}
	s.fail = failure(s.term)
	return s, nil
}

// failure is the Knuth-Morris-Pratt failure function of t: fail[i] is the
// length of the longest proper prefix of t[:i+1] that is also its suffix.
func failure(t []byte) []int {
	f := make([]int, len(t))
	k := 0
	for i := 1; i < len(t); i++ {
		for k > 0 && t[i] != t[k] {
			k = f[k-1]
		}
		if t[i] == t[k] {
			k++
		}
		f[i] = k
	}
	return f
}

// Feed takes the bytes p that arrived at now and returns the frames they
// complete, in order. The frames own their bytes.
func (s *Splitter) Feed(p []byte, now time.Time) []Frame {
	var out []Frame
	if s.idle > 0 {
		if f, ok := s.Tick(now); ok {
			out = append(out, f)
		}
		if len(p) == 0 {
			return out
		}
		s.pending = true
		s.last = now
		for _, c := range p {
			s.add(c)
		}
		return out
	}
	for _, c := range p {
		if s.skipLF {
			s.skipLF = false
			if c == '\n' {
				continue
			}
		}
		// Advance the terminator match.
		for s.m > 0 && c != s.term[s.m] {
			s.m = s.fail[s.m-1]
		}
		if c == s.term[s.m] {
			s.m++
		}
		if s.m == len(s.term) {
			s.m = 0
			s.skipLF = len(s.term) == 1 && s.term[0] == '\r'
			if s.dropping {
				s.dropping = false
				continue
			}
			data := s.buf[:len(s.buf)-(len(s.term)-1)]
			if len(s.term) == 1 && s.term[0] == '\n' {
				data = bytes.TrimSuffix(data, []byte{'\r'})
			}
			if f, ok := s.frame(data, now); ok {
				out = append(out, f)
			}
			s.buf = s.buf[:0]
			continue
		}
		s.add(c)
	}
	return out
}

// add appends c to the current frame, or drops the frame when it grows
// over the bound. The part of the buffer that may still turn out to be the
// terminator (s.m bytes) does not count.
func (s *Splitter) add(c byte) {
	if s.dropping {
		return
	}
	s.buf = append(s.buf, c)
	if len(s.buf)-s.m > s.max {
		s.dropping = true
		s.dropped++
		s.buf = s.buf[:0]
	}
}

// frame makes a Frame of data, stripped of the affixes; false when nothing
// is left.
func (s *Splitter) frame(data []byte, at time.Time) (Frame, bool) {
	data = s.affixes.Strip(data)
	if len(data) == 0 {
		return Frame{}, false
	}
	return Frame{Data: bytes.Clone(data), At: at}, true
}

// Tick ends the pending frame when the idle gap has passed at now (idle
// terminator only) and returns it.
func (s *Splitter) Tick(now time.Time) (Frame, bool) {
	if s.idle <= 0 || !s.pending || now.Sub(s.last) < s.idle {
		return Frame{}, false
	}
	s.pending = false
	data := s.buf
	s.buf = s.buf[:0]
	if s.dropping {
		s.dropping = false
		return Frame{}, false
	}
	return s.frame(data, s.last)
}

// Deadline is when Tick ends the pending frame, for a read timeout: false
// when no frame is pending or the terminator is not a gap.
func (s *Splitter) Deadline() (time.Time, bool) {
	if s.idle <= 0 || !s.pending {
		return time.Time{}, false
	}
	return s.last.Add(s.idle), true
}

// Dropped counts the frames dropped for being longer than Max.
func (s *Splitter) Dropped() uint64 { return s.dropped }

// Buffered is the number of bytes of the frame in progress.
func (s *Splitter) Buffered() int { return len(s.buf) }

// Reset forgets the frame in progress, e.g. after the device was lost; the
// count of dropped frames stays.
func (s *Splitter) Reset() {
	s.buf = s.buf[:0]
	s.m = 0
	s.dropping = false
	s.skipLF = false
	s.pending = false
}
