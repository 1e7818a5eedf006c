package hid

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tillbox/tillbox/device"
)

// find picks the interface to read among the listed ones: those of the
// device m names, the best for the mode first (see rank); others counts the
// further matching devices, left alone.
func find(m device.Match, mode string, list []device.HIDDevice) (d device.HIDDevice, others int, err error) {
	var found []device.HIDDevice
	if m.Path != "" {
		bus, addr, err := usbfsNode(m.Path)
		if err != nil {
			return d, 0, err
		}
		for _, x := range list {
			if b, a, _, ok := device.ParseLibusbPath(x.Path); ok && b == bus && a == addr {
				found = append(found, x)
			}
		}
		if len(found) == 0 {
			return d, 0, fmt.Errorf("no USB HID interface at %s: is the scanner plugged in? (tillbox devices lists them)", m.Path)
		}
	} else {
		for _, x := range list {
			if x.VID == m.VID && x.PID == m.PID && (m.Serial == "" || x.SerialNumber == m.Serial) {
				found = append(found, x)
			}
		}
		if len(found) == 0 {
			return d, 0, fmt.Errorf("no USB HID device %s: is the scanner plugged in? (tillbox devices lists them)", m)
		}
	}
	slices.SortStableFunc(found, func(a, b device.HIDDevice) int {
		if ra, rb := rank(mode, a), rank(mode, b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.Path, b.Path)
	})
	devices := map[string]bool{}
	for _, x := range found {
		devices[devicePart(x.Path)] = true
	}
	return found[0], len(devices) - 1, nil
}

// rank orders the interfaces of a device for a mode, best first: the HID
// POS interface for hidpos and auto, the keyboard for keyboard mode, then
// interfaces whose usage is unknown (see describe),
// then any other (a mouse, consumer keys).
func rank(mode string, d device.HIDDevice) int {
	pos := d.UsagePage == device.UsagePagePOS
	kbd := d.UsagePage == device.UsagePageGenericDesktop && d.Usage == device.UsageKeyboard
	unknown := d.UsagePage == 0
	switch {
	case mode == ModeKeyboard && kbd, mode == ModePOS && pos, mode == ModeAuto && pos:
		return 0
	case mode == ModeAuto && kbd:
		return 1
	case unknown:
		return 2
	}
	return 3
}

// devicePart is the bus and address of a libusb path, which name one USB
// device (the path without its interface).
func devicePart(path string) string {
	if i := strings.LastIndexByte(path, ':'); i > 0 {
		return path[:i]
	}
	return path
}

// usbfsNode reads the bus and device address from a usbfs node path
// /dev/bus/usb/BBB/DDD, after following symlinks (a udev SYMLINK).
func usbfsNode(path string) (bus, addr int, err error) {
	real := path
	if !strings.HasPrefix(path, "/dev/bus/usb/") {
		if real, err = filepath.EvalSymlinks(path); err != nil {
			return 0, 0, fmt.Errorf("%s: %w: is the scanner plugged in?", path, err)
		}
	}
	rest, ok := strings.CutPrefix(real, "/dev/bus/usb/")
	parts := strings.Split(rest, "/")
	if ok && len(parts) == 2 {
		b, err1 := strconv.Atoi(parts[0])
		a, err2 := strconv.Atoi(parts[1])
		if err1 == nil && err2 == nil && b > 0 && a > 0 {
			return b, a, nil
		}
	}
	return 0, 0, fmt.Errorf("%s is not a USB device node /dev/bus/usb/BBB/DDD (or a symlink to one): match a HID scanner by VID:PID[:SERIAL] (tillbox devices lists them)", path)
}
