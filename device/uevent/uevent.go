// Package uevent tells the scanner drivers' retry loops when a device may
// have been plugged in, so that a scanner left unplugged costs no CPU: it
// listens to the kernel's uevents on a NETLINK_KOBJECT_UEVENT socket and
// wakes every waiter at each "add" or "bind" of a tty, USB, hidraw or
// USB-serial device.
//
// One socket serves the whole process (Shared), opened at first use. Where
// it cannot be opened (not Linux, no permission), Shared says why and the
// retry loops keep their timed retries (Backoff without a Source).
package uevent

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Event is one kernel uevent.
type Event struct {
	// Action is what happened: "add", "remove", "bind", "unbind",
	// "change", "move", "online", "offline".
	Action string
	// DevPath is the device's path under /sys.
	DevPath string
	// Subsystem is the device's subsystem: "tty", "usb", "hidraw", ...
	Subsystem string
	// DevName is the device node under /dev ("ttyUSB0"), where there is one.
	DevName string
	// Env holds every KEY=VALUE of the message, the above included.
	Env map[string]string
}

// MaxMessage is the longest message Parse accepts; the kernel's are at most
// about 2 KiB.
const MaxMessage = 8192

// Parse reads one message of the kernel: a header "ACTION@DEVPATH", then
// NUL-separated KEY=VALUE pairs, among them ACTION, DEVPATH and SUBSYSTEM.
// Messages of udev (which start with "libudev") and malformed ones are
// refused with an error.
func Parse(msg []byte) (Event, error) {
	if len(msg) > MaxMessage {
		return Event{}, fmt.Errorf("uevent: message of %d bytes, over %d", len(msg), MaxMessage)
	}
	if bytes.HasPrefix(msg, []byte("libudev\x00")) {
		return Event{}, errors.New("uevent: a udev message, not the kernel's")
	}
	fields := bytes.Split(bytes.TrimRight(msg, "\x00"), []byte{0})
	header := string(fields[0])
	action, devpath, ok := strings.Cut(header, "@")
	if !ok || action == "" || !strings.HasPrefix(devpath, "/") {
		return Event{}, fmt.Errorf("uevent: header %q is not ACTION@DEVPATH", header)
	}
	e := Event{Env: make(map[string]string, len(fields)-1)}
	for _, f := range fields[1:] {
		k, v, ok := bytes.Cut(f, []byte("="))
		if !ok || len(k) == 0 {
			return Event{}, fmt.Errorf("uevent: %q is not KEY=VALUE", f)
		}
		if _, dup := e.Env[string(k)]; dup {
			return Event{}, fmt.Errorf("uevent: %s given twice", k)
		}
		e.Env[string(k)] = string(v)
	}
	e.Action, e.DevPath = e.Env["ACTION"], e.Env["DEVPATH"]
	e.Subsystem, e.DevName = e.Env["SUBSYSTEM"], e.Env["DEVNAME"]
	if e.Action != action || e.DevPath != devpath {
		return Event{}, fmt.Errorf("uevent: header %q disagrees with ACTION=%q DEVPATH=%q", header, e.Action, e.DevPath)
	}
	if e.Subsystem == "" {
		return Event{}, fmt.Errorf("uevent: %q has no SUBSYSTEM", header)
	}
	return e, nil
}

// Plugged reports whether e may be a scanner appearing: a device added or
// bound to its driver in a subsystem a scanner shows up in (tty for serial
// ports, usb and usb-serial for the USB device and its adapter, hidraw for
// HID interfaces).
func (e Event) Plugged() bool {
	if e.Action != "add" && e.Action != "bind" {
		return false
	}
	switch e.Subsystem {
	case "tty", "usb", "usb-serial", "hidraw":
		return true
	}
	return false
}
