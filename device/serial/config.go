package serial

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/frame"
	"github.com/tillbox/tillbox/device/uevent"
)

// Config is one serial scanner.
type Config struct {
	// Name labels the scanner in its scans, logs and status.
	Name string
	// Match finds the port: a device path (a symlink such as
	// /dev/serial/by-id/... is followed at each open) or a USB identity
	// VID:PID[:SERIAL], looked up again at each open so that the scanner is
	// found on whatever ttyACMn or ttyUSBn it gets after a replug.
	Match device.Match
	// Baud is the bit rate; 0 means DefaultBaud. 8 data bits, no parity,
	// one stop bit.
	Baud int
	// Terminator ends a scan: bytes or an idle gap.
	Terminator device.Terminator
	// Affixes are stripped from each scan where present.
	Affixes frame.Affixes

	// MinBackoff and MaxBackoff bound the wait between attempts to open
	// the port: it starts at MinBackoff and doubles up to MaxBackoff, with
	// some jitter. Defaults 50ms and 2s. Once a wait of MaxBackoff passed
	// in vain, the port is looked for again at the next hotplug event, or
	// after IdleRetry (see uevent.Backoff).
	MinBackoff, MaxBackoff time.Duration
	// IdleRetry bounds the wait for a hotplug event while the port is
	// missing; 0 means uevent.DefaultIdle (a minute), and a negative value
	// means no waiting for hotplug events: retries every MaxBackoff.
	IdleRetry time.Duration
	// Hotplug tells of hotplug events; nil means the kernel's uevents
	// (uevent.Default), or timed retries where those cannot be read.
	Hotplug uevent.Source
	// Logger receives connects, losses and dropped input; nil discards.
	// Scans are logged shortened and masked (device.Shorten), never whole.
	Logger *slog.Logger
	// List lists the serial ports with their USB identity, to find a port
	// by USB identity; nil means device.ListSerial. Tests set it.
	List func() ([]device.SerialPort, error)
}

// DefaultBaud is the bit rate of a scanner whose Baud is 0.
const DefaultBaud = 9600

// FromSpec makes a Config of a scanner with driver "serial"; a zero
// Terminator is CR.
func FromSpec(s device.Spec) (Config, error) {
	if s.Driver != device.DriverSerial {
		return Config{}, fmt.Errorf("scanner %q: driver %q is not serial", s.Name, s.Driver)
	}
	t := s.Terminator
	if t == (device.Terminator{}) {
		t = device.Terminator{Bytes: "\r"}
	}
	return Config{Name: s.Name, Match: s.Match, Baud: s.Baud, Terminator: t, Affixes: frame.Affixes{Prefix: s.Prefix, Suffix: s.Suffix}}, nil
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		return errors.New("serial: the scanner has no name")
	}
	if c.Match.Path == "" && c.Match.VID == 0 {
		return fmt.Errorf("serial: scanner %q: no device path or USB identity to find it by", c.Name)
	}
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	if c.Baud < 0 {
		return fmt.Errorf("serial: scanner %q: baud rate %d", c.Name, c.Baud)
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 50 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(2*time.Second, c.MinBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.List == nil {
		c.List = device.ListSerial
	}
	if c.Hotplug == nil && c.IdleRetry >= 0 {
		c.Hotplug = uevent.Default(c.Logger)
	}
	return nil
}

// mode describes the settings for Status.Mode: "9600 baud, CR".
func (c *Config) mode() string {
	var t string
	switch c.Terminator.Bytes {
	case "\r":
		t = "CR"
	case "\n":
		t = "LF"
	case "\r\n":
		t = "CRLF"
	default:
		if c.Terminator.Idle > 0 {
			t = "idle " + c.Terminator.Idle.String()
		} else {
			t = fmt.Sprintf("%q", c.Terminator.Bytes)
		}
	}
	return fmt.Sprintf("%d baud, %s", c.Baud, t)
}
