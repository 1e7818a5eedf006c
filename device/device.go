// Package device is the contract between the box's scanners and the rest of
// tillbox: a Scanner delivers Scans (the bytes of one code, where it came
// from, when) and reports its Status for the technician page. A Spec says
// what a scanner is (its driver, Match, Terminator, mode and layout); the
// wiring makes Specs of its configuration, and this package and its drivers
// import nothing of the application (deps_test.go).
//
// The drivers live in sub-packages, one per technology: device/serial (USB
// CDC-ACM, USB-serial, RS-232) and device/hid (USB HID, keyboard mode and
// HID POS, through github.com/karalabe/usb with cgo). The pure decoders they share are device/frame
// (a byte stream split into scans), device/hidkbd (keyboard-mode HID boot
// reports through a keyboard layout) and device/hidpos (HID POS reports, usage
// page 0x8C). device/classify decides whether a scan is a personal QR code;
// device/scanners opens the scanners of a list of Specs and keeps them open.
package device

import (
	"fmt"
	"time"
)

// MaxScan is the largest scan a driver delivers, in bytes. Longer input is
// dropped (and counted in Status.Dropped): no personal QR code comes near it.
const MaxScan = 4096

// Scan is one code read by a scanner.
type Scan struct {
	// Data is the whole code, without the terminator and without the
	// configured prefix and suffix. It is not necessarily UTF-8: the
	// classifier decides what it is.
	Data []byte
	// Source is the name of the scanner that read it.
	Source string
	// At is when the last byte of the code arrived.
	At time.Time
	// Symbology is the AIM symbology identifier when the scanner reports one
	// (HID POS), e.g. "]Q1" for a QR code or "]E0" for an EAN-13; empty
	// otherwise.
	Symbology string
}

// String describes the scan without revealing it (see Shorten).
func (s Scan) String() string {
	return fmt.Sprintf("%s: %s", s.Source, Shorten(s.Data))
}

// Scanner is a source of scans: one configured scanner, open until Close.
//
// A driver keeps its scanner open by itself: it reopens the device after an
// unplug or a read error, with backoff, without a restart, and tells how that
// goes in Status.
type Scanner interface {
	// Scans delivers the scans in the order they were read. The channel is
	// closed after Close. A consumer that does not read holds the scanner
	// back (the device and the kernel buffer the bytes); nothing is lost.
	Scans() <-chan Scan
	// Status is a snapshot of the scanner's state, safe to call at any time.
	Status() Status
	// Close stops the scanner, waits for its goroutines and closes Scans.
	// It is safe to call more than once.
	Close() error
}
