// Package hid reads scans from USB HID scanners through
// github.com/karalabe/usb (hidapi on a bundled libusb, cgo): a scanner in
// keyboard mode (boot keyboard reports, decoded by device/hidkbd through
// the keyboard layout the scanner emulates) or in HID POS mode (usage page
// 0x8C, decoded by device/hidpos).
//
// The device is found by USB identity VID:PID[:SERIAL], stable across
// replug, or by its usbfs node. Opening it detaches the kernel's keyboard
// driver, so a keyboard-mode scanner's keystrokes never reach the till's
// screen. When the device goes away (a read error), the Scanner stops: the
// manager (device/scanners) opens it again with backoff.
//
// Built without cgo, karalabe/usb finds no device at all: Open then fails
// with ErrNotBuilt, so that the box says why instead of "no scanner found".
package hid

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tillbox/tillbox/device"
)

// Device is an open HID interface, what the Scanner reads: a
// github.com/karalabe/usb Device is one, the tests' fake replays recorded
// reports.
type Device interface {
	// Read blocks until an input report comes and copies it into b (with
	// its report ID first, when the device numbers its reports). It may
	// return 0 bytes between reports. It fails once the device is closed
	// or gone.
	Read(b []byte) (int, error)
	// Close releases the device; it makes a Read in progress return.
	Close() error
}

// Scanner is an open USB HID scanner: a device.Scanner.
type Scanner struct {
	cfg    Config
	dec    *decoder
	scans  chan device.Scan
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when the reading goroutine returns
	err    error         // why it stopped by itself; read after exited

	mu      sync.Mutex
	closing bool
	dev     Device // nil once released
	status  device.Status
}

var _ device.Scanner = (*Scanner)(nil)

// Open finds the device c names, opens it and starts reading it. It fails
// when the configuration is wrong, when the device is not there or cannot
// be opened, and, in a build without cgo, with ErrNotBuilt.
func Open(c Config) (*Scanner, error) {
	if err := c.setDefaults(); err != nil {
		return nil, err
	}
	list, err := c.Enumerate(c.Match.VID, c.Match.PID) // 0, 0 for a path: every device
	if err != nil {
		return nil, err
	}
	info, others, err := find(c.Match, c.Mode, list)
	if err != nil {
		return nil, err
	}
	dec, err := newDecoder(c.Mode, c.Layout, info)
	if err != nil {
		return nil, fmt.Errorf("hid: scanner %q: %w", c.Name, err)
	}
	dev, err := c.OpenDevice(info)
	if err != nil {
		return nil, err
	}
	s := &Scanner{
		cfg: c, dec: dec, dev: dev,
		scans:  make(chan device.Scan, 16),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		status: device.Status{
			Name: c.Name, Driver: "hid", Match: c.Match.String(), Mode: dec.mode(),
			Connected: true, Path: info.Path, Since: time.Now(),
			Product: info.Product, Manufacturer: info.Manufacturer,
			VIDPID: device.VIDPID(info.VID, info.PID), SerialNumber: info.SerialNumber,
		},
	}
	log := c.Logger.With("scanner", c.Name)
	log.Info("scanner connected", "path", info.Path, "vidpid", s.status.VIDPID, "product", info.Product,
		"interface", info.Interface, "mode", s.status.Mode)
	if others > 0 {
		log.Warn("several USB devices match the scanner: reading the first; add the serial number to match", "match", c.Match.String(), "others", others)
	}
	go func() {
		defer close(s.exited)
		defer close(s.scans)
		err := s.read(dev)
		s.release()
		s.mu.Lock()
		s.status.Connected = false
		s.status.Since = time.Now()
		if err != nil {
			s.status.LastError, s.status.LastErrorAt = "lost: "+err.Error(), s.status.Since
		}
		s.mu.Unlock()
		if err != nil {
			log.Warn("scanner lost", "path", info.Path, "err", err)
		}
		s.err = err
	}()
	return s, nil
}

// Scans implements device.Scanner.
func (s *Scanner) Scans() <-chan device.Scan { return s.scans }

// Status implements device.Scanner.
func (s *Scanner) Status() device.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Close implements device.Scanner: it closes the device, which ends a
// blocked Read, and waits for the reading goroutine. It returns why the
// scanner had stopped by itself (the device lost), or nil.
func (s *Scanner) Close() error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
	}
	s.mu.Unlock()
	s.release()
	<-s.exited
	return s.err
}

// release closes the device once.
func (s *Scanner) release() {
	s.mu.Lock()
	dev := s.dev
	s.dev = nil
	s.mu.Unlock()
	if dev != nil {
		_ = dev.Close()
	}
}

// errClosed ends read when Close was called.
var errClosed = errors.New("hid: scanner closed")

// read reads reports until the device fails (its error) or Close (nil).
func (s *Scanner) read(dev Device) error {
	buf := make([]byte, 1024)
	for {
		n, err := dev.Read(buf)
		if s.stopping() {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the device: %w", err)
		}
		if n == 0 {
			continue // hidapi may return nothing between reports
		}
		now := time.Now()
		for _, sc := range s.dec.feed(buf[:n]) {
			if err := s.deliver(sc, now); err != nil {
				return nil
			}
		}
		s.noteDropped()
	}
}

func (s *Scanner) stopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// deliver hands a scan to the consumer; errClosed when closed meanwhile.
func (s *Scanner) deliver(d decoded, at time.Time) error {
	data := s.cfg.Affixes.Strip(d.data)
	if len(data) == 0 {
		return nil
	}
	s.mu.Lock()
	s.status.Scans++
	s.status.LastScanAt = at
	s.status.LastScan = device.Shorten(data)
	s.status.Mode = s.dec.mode()
	s.mu.Unlock()
	select {
	case s.scans <- device.Scan{Data: data, Source: s.cfg.Name, At: at, Symbology: d.symbology}:
		return nil
	case <-s.done:
		return errClosed
	}
}

// noteDropped copies the decoder's count of input thrown away into the
// status, with an error when it grew.
func (s *Scanner) noteDropped() {
	n, why := s.dec.dropped()
	s.mu.Lock()
	grew := n > s.status.Dropped
	s.status.Dropped = n
	s.status.Mode = s.dec.mode()
	if grew {
		s.status.LastError, s.status.LastErrorAt = why, time.Now()
	}
	s.mu.Unlock()
	if grew {
		s.cfg.Logger.Warn("scanner input dropped", "scanner", s.cfg.Name, "reason", why, "dropped", n)
	}
}
