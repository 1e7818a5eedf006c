package device

import (
	"fmt"
	"strconv"
	"strings"
)

// HID usage pages a scanner's interface may report.
const (
	UsagePageGenericDesktop = 0x01 // with usage 0x06: a keyboard (keyboard-mode scanner)
	UsagePagePOS            = 0x8C // Bar Code Scanner: a scanner in HID POS mode
	UsageKeyboard           = 0x06
)

// HIDDevice is one HID interface of a USB device, as enumeration finds it,
// for `tillbox devices` and the HID driver.
type HIDDevice struct {
	VID          uint16 `json:"vid"`
	PID          uint16 `json:"pid"`
	SerialNumber string `json:"serialNumber,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Product      string `json:"product,omitempty"`
	// UsagePage and Usage are those of the interface's top-level
	// collection; 0 when enumeration cannot tell. On Linux they come from
	// the report descriptor in sysfs, which is there while the kernel's
	// HID driver holds the interface (listing never detaches it); a boot
	// keyboard interface is a keyboard even without it.
	UsagePage uint16 `json:"usagePage"`
	Usage     uint16 `json:"usage"`
	// KernelDriver is the driver bound to the interface, when sysfs tells:
	// "usbhid" (the kernel's), "usbfs" (a program holds the device, such
	// as a running tillbox), "" otherwise.
	KernelDriver string `json:"kernelDriver,omitempty"`
	// Interface is the USB interface number.
	Interface int `json:"interface"`
	// Path is how the driver opens it: with the bundled libusb,
	// "BBBB:DDDD:II" (bus, device address, interface, hex), which changes
	// at every replug.
	Path string `json:"path"`
}

// Match is what to write as the match of a [[scanner]] entry to find this
// device again after a replug: "VID:PID:SERIAL", or "VID:PID" without a
// usable serial number.
func (d HIDDevice) Match() string {
	m := VIDPID(d.VID, d.PID)
	if d.SerialNumber != "" && !strings.ContainsFunc(d.SerialNumber, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		m += ":" + d.SerialNumber
	}
	return m
}

// Kind names what the usage page says the interface is: "HID POS",
// "keyboard", another page in hex, or "" when unknown.
func (d HIDDevice) Kind() string {
	switch {
	case d.UsagePage == UsagePagePOS:
		return "HID POS"
	case d.UsagePage == UsagePageGenericDesktop && d.Usage == UsageKeyboard:
		return "keyboard"
	case d.UsagePage == 0 && d.Usage == 0:
		return ""
	}
	return fmt.Sprintf("usage page 0x%04x usage 0x%04x", d.UsagePage, d.Usage)
}

// Node is the usbfs node of the device, "/dev/bus/usb/BBB/DDD", when Path
// is a libusb path; a [[scanner]] match may name it (or a udev symlink to
// it) instead of the USB identity.
func (d HIDDevice) Node() string {
	bus, addr, _, ok := ParseLibusbPath(d.Path)
	if !ok {
		return ""
	}
	return fmt.Sprintf("/dev/bus/usb/%03d/%03d", bus, addr)
}

func (d HIDDevice) String() string {
	s := VIDPID(d.VID, d.PID)
	if d.SerialNumber != "" {
		s += " serial " + d.SerialNumber
	}
	if desc := strings.TrimSpace(d.Manufacturer + " " + d.Product); desc != "" {
		s += "  " + desc
	}
	s += fmt.Sprintf("  interface %d", d.Interface)
	if k := d.Kind(); k != "" {
		s += "  " + k
	}
	return s
}

// ParseLibusbPath splits a libusb HID path "BBBB:DDDD:II" (hex) into bus,
// device address and interface.
func ParseLibusbPath(p string) (bus, addr, intf int, ok bool) {
	parts := strings.Split(p, ":")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	var v [3]int
	for i, s := range parts {
		n, err := strconv.ParseUint(s, 16, 16)
		if err != nil || s == "" {
			return 0, 0, 0, false
		}
		v[i] = int(n)
	}
	return v[0], v[1], v[2], true
}
