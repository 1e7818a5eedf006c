package device

import (
	"fmt"
	"strings"
)

// SerialPort is a serial port of this machine, for `tillbox devices`.
type SerialPort struct {
	Path string `json:"path"` // e.g. /dev/ttyACM0
	USB  bool   `json:"usb"`  // a USB CDC-ACM or USB-serial port
	// The USB identity, when USB.
	VID          uint16 `json:"vid,omitempty"`
	PID          uint16 `json:"pid,omitempty"`
	SerialNumber string `json:"serialNumber,omitempty"`
	Product      string `json:"product,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
}

// Match is what to write as the match of a [[scanner]] entry to find this
// port again after a replug: "VID:PID:SERIAL" (or "VID:PID" without a
// serial number) for a USB port, the path otherwise.
func (p SerialPort) Match() string {
	if !p.USB || p.VID == 0 {
		return p.Path
	}
	m := VIDPID(p.VID, p.PID)
	if p.SerialNumber != "" && !strings.ContainsFunc(p.SerialNumber, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		m += ":" + p.SerialNumber
	}
	return m
}

func (p SerialPort) String() string {
	if !p.USB {
		return p.Path
	}
	s := fmt.Sprintf("%s  %s", p.Path, VIDPID(p.VID, p.PID))
	if p.SerialNumber != "" {
		s += " serial " + p.SerialNumber
	}
	if d := strings.TrimSpace(p.Manufacturer + " " + p.Product); d != "" {
		s += "  " + d
	}
	return s
}
