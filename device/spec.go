package device

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Drivers of a scanner: the technology it is read through.
const (
	DriverSerial = "serial" // USB CDC-ACM, USB-serial, RS-232: device/serial
	DriverHID    = "hid"    // USB HID, keyboard mode or HID POS: device/hid
)

// Spec is what a scanner is: its name, the driver that reads it, where it
// is found and how it talks. It says nothing of where it was configured:
// the wiring converts its configuration into Specs, and each driver turns a
// Spec into its own options (serial.FromSpec, hid.FromSpec).
type Spec struct {
	// Name labels the scanner in its scans, logs and status.
	Name string
	// Driver is DriverSerial or DriverHID.
	Driver string
	// Match finds the scanner.
	Match Match

	// Serial only: the bit rate (0: the driver's default) and what ends a
	// scan (zero: CR).
	Baud       int
	Terminator Terminator

	// HID only: the mode ("auto", "keyboard" or "hidpos"; empty: auto) and,
	// in keyboard mode, the name of the keyboard layout the scanner emulates
	// (hidkbd.Layouts; empty: "us").
	Mode   string
	Layout string

	// Prefix and Suffix are stripped from each scan when present.
	Prefix, Suffix string
}

// Match is where a scanner is found: by USB identity or by device path.
type Match struct {
	VID, PID uint16
	Serial   string // empty: any serial number
	Path     string // set instead of VID and PID
}

// String writes the match back in the form ParseMatch reads.
func (m Match) String() string {
	if m.Path != "" {
		return m.Path
	}
	s := fmt.Sprintf("%04x:%04x", m.VID, m.PID)
	if m.Serial != "" {
		s += ":" + m.Serial
	}
	return s
}

var hex4 = regexp.MustCompile(`^[0-9a-fA-F]{4}$`)

// ParseMatch parses "VID:PID", "VID:PID:SERIAL" (VID and PID four hex digits
// each, as lsusb shows them) or an absolute device path.
func ParseMatch(s string) (Match, error) {
	if strings.HasPrefix(s, "/") {
		if strings.ContainsAny(s, " \t\n") {
			return Match{}, fmt.Errorf("device path %q contains white space", s)
		}
		return Match{Path: s}, nil
	}
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 || !hex4.MatchString(parts[0]) || !hex4.MatchString(parts[1]) {
		return Match{}, fmt.Errorf("%q is not VID:PID[:SERIAL] (four hex digits each, as lsusb shows them, e.g. \"0c2e:0b61\") or a device path starting with /", s)
	}
	vid, _ := strconv.ParseUint(parts[0], 16, 16)
	pid, _ := strconv.ParseUint(parts[1], 16, 16)
	if vid == 0 {
		return Match{}, fmt.Errorf("%q: vendor id 0000 is not a USB vendor", s)
	}
	m := Match{VID: uint16(vid), PID: uint16(pid)}
	if len(parts) == 3 {
		if parts[2] == "" || strings.IndexFunc(parts[2], func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return Match{}, fmt.Errorf("%q: the serial number after the second colon is empty or holds spaces or control characters", s)
		}
		m.Serial = parts[2]
	}
	return m, nil
}

// Terminator is what ends a scan on a serial scanner: a byte sequence or,
// when Idle is set, a gap of that length in the incoming bytes.
type Terminator struct {
	Bytes string
	Idle  time.Duration
}

// String writes the terminator in the form ParseTerminator reads ("CR",
// "idle:50ms"), or quotes bytes it has no name for.
func (t Terminator) String() string {
	switch {
	case t.Idle > 0:
		return "idle:" + t.Idle.String()
	case t.Bytes == "\r":
		return "CR"
	case t.Bytes == "\n":
		return "LF"
	case t.Bytes == "\r\n":
		return "CRLF"
	}
	return strconv.Quote(t.Bytes)
}

// ParseTerminator parses "CR", "LF", "CRLF" (any case) or "idle:DURATION"
// with DURATION between 5ms and 2s.
func ParseTerminator(s string) (Terminator, error) {
	switch strings.ToUpper(s) {
	case "CR":
		return Terminator{Bytes: "\r"}, nil
	case "LF":
		return Terminator{Bytes: "\n"}, nil
	case "CRLF":
		return Terminator{Bytes: "\r\n"}, nil
	}
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "idle:"); ok {
		d, err := time.ParseDuration(rest)
		if err != nil || d < 5*time.Millisecond || d > 2*time.Second {
			return Terminator{}, fmt.Errorf("%q: the idle gap must be a duration from 5ms to 2s, like \"idle:50ms\"", s)
		}
		return Terminator{Idle: d}, nil
	}
	return Terminator{}, fmt.Errorf("%q is not CR, LF, CRLF or idle:DURATION (e.g. \"idle:50ms\")", s)
}
