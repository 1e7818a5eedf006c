// Package udevrules writes the udev rules that give the tillbox service
// access to the scanners of its configuration, and to nothing else.
//
// Each configured scanner gets one rule that sets GROUP and MODE="0660" on
// its device node: for a serial scanner the tty (subsystem tty), for a USB
// HID scanner its USB device node /dev/bus/usb/BBB/DDD (subsystem usb,
// DEVTYPE usb_device), because github.com/karalabe/usb reads HID devices
// through its bundled libusb backend of hidapi (usbfs), not through
// /dev/hidraw*. A scanner matched by VID:PID[:SERIAL] is found by its USB
// attributes and also gets a stable symlink /dev/tillbox/NAME; one matched
// by path is found by its kernel name (/dev/ttyACM0) or by a symlink
// another rule makes (/dev/serial/by-id/..., hence the file's number 70,
// after 60-serial.rules). Devices that are not configured get no rule.
package udevrules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tillbox/tillbox/device"
)

// UnitTTYs are the tty classes scripts/systemd/tillbox.service allows
// (DeviceAllow=char-NAME); its test keeps the two in step.
var UnitTTYs = []string{"ttyACM", "ttyUSB", "ttyS", "ttyAMA"}

// FileName is the name of the rules file in /etc/udev/rules.d: after
// 60-serial.rules, which makes the /dev/serial/by-id links a path match
// may name.
const FileName = "70-tillbox.rules"

// Scanner is a scanner to grant: what it is, and its match as the
// configuration writes it ("05E0:1200"), quoted in the rule's comment so
// that one configuration always makes the same file; empty: Match.String().
type Scanner struct {
	device.Spec
	Configured string
}

// Generate returns the rules file for the scanners, granting group. Notes
// are things the reader should know (a serial number with characters a
// udev pattern cannot hold literally, a device address that changes on
// replug); an error means a scanner could get no rule at all, so that a
// half-granted box is never installed quietly.
func Generate(scanners []Scanner, group, source string) (rules string, notes []string, err error) {
	if group == "" || strings.ContainsAny(group, "\"\\ \t\n$%") {
		return "", nil, fmt.Errorf("group %q is not a plain group name", group)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# /etc/udev/rules.d/%s: made by `tillbox udev-rules`", FileName)
	if source != "" {
		fmt.Fprintf(&b, " from %s", source)
	}
	fmt.Fprintf(&b, ".\n# Gives the group %s read-write access to the configured scanners, and to\n", group)
	b.WriteString("# nothing else. Made again by scripts/install.sh: run it after changing the\n")
	b.WriteString("# [[scanner]] tables.\n")
	if len(scanners) == 0 {
		b.WriteString("\n# No [[scanner]] table in the configuration: no device is granted.\n")
		return b.String(), nil, nil
	}
	grant := fmt.Sprintf(`GROUP="%s", MODE="0660"`, group)
	for i, s := range scanners {
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("scanner%d", i+1)
		}
		m, configured := s.Match, s.Configured
		if configured == "" {
			configured = m.String()
		}
		var match []string
		switch s.Driver {
		case device.DriverSerial:
			match = append(match, `SUBSYSTEM=="tty"`)
		case device.DriverHID:
			match = append(match, `SUBSYSTEM=="usb"`, `ENV{DEVTYPE}=="usb_device"`)
		default:
			return "", nil, fmt.Errorf("scanner %q: driver %q is not serial or hid", name, s.Driver)
		}
		// ATTRS looks at the tty's parents for the USB device; ATTR at the
		// USB device itself.
		attr := "ATTR"
		if s.Driver == device.DriverSerial {
			attr = "ATTRS"
		}
		what := "its tty"
		if s.Driver == device.DriverHID {
			what = "its USB device node (libusb)"
		}
		fmt.Fprintf(&b, "\n# scanner %q: %s, match %q: %s\n", name, s.Driver, configured, what)
		assign := []string{grant}
		if m.Path == "" {
			match = append(match, fmt.Sprintf(`%s{idVendor}=="%04x"`, attr, m.VID), fmt.Sprintf(`%s{idProduct}=="%04x"`, attr, m.PID))
			if m.Serial != "" {
				p, exact := pattern(m.Serial)
				if !exact {
					notes = append(notes, fmt.Sprintf("scanner %q: the serial number %q holds characters a udev pattern cannot hold literally; each matches any character there", name, m.Serial))
					b.WriteString("# (each ? of the serial number stands for a character udev cannot match literally)\n")
				}
				match = append(match, fmt.Sprintf(`%s{serial}=="%s"`, attr, p))
			}
			assign = append(assign, fmt.Sprintf(`SYMLINK+="tillbox/%s"`, name))
		} else {
			rel, ok := strings.CutPrefix(m.Path, "/dev/")
			if !ok || rel == "" || strings.Contains(rel, "..") {
				return "", nil, fmt.Errorf("scanner %q: match %q is not a device under /dev: no udev rule can grant it; match it by VID:PID[:SERIAL] (tillbox devices lists them)", name, m.Path)
			}
			p, exact := pattern(rel)
			if !exact {
				notes = append(notes, fmt.Sprintf("scanner %q: the path %q holds characters a udev pattern cannot hold literally; each matches any character there", name, m.Path))
			}
			switch {
			case s.Driver == device.DriverHID && strings.HasPrefix(rel, "bus/usb/"):
				match = append(match, fmt.Sprintf(`ENV{DEVNAME}=="/dev/%s"`, p))
				notes = append(notes, fmt.Sprintf("scanner %q: %s changes when the scanner is replugged or the box restarts; match it by VID:PID[:SERIAL] instead (tillbox devices lists them)", name, m.Path))
				b.WriteString("# (a USB address changes on replug: prefer VID:PID[:SERIAL])\n")
			case !strings.Contains(rel, "/"):
				match = append(match, fmt.Sprintf(`KERNEL=="%s"`, p))
				if s.Driver == device.DriverSerial && !slices.ContainsFunc(UnitTTYs, func(c string) bool { return strings.HasPrefix(rel, c) }) {
					notes = append(notes, fmt.Sprintf("scanner %q: tillbox.service lets the service open only %s* ttys (DeviceAllow=): give %s a DeviceAllow= line in a drop-in (systemctl edit tillbox)", name, strings.Join(UnitTTYs, "*, "), m.Path))
				}
			default:
				match = append(match, fmt.Sprintf(`SYMLINK=="%s"`, p))
			}
		}
		if s.Driver == device.DriverSerial {
			// A modem manager probing the port would eat scans.
			assign = append(assign, `ENV{ID_MM_DEVICE_IGNORE}="1"`)
		}
		b.WriteString(strings.Join(append(match, assign...), ", "))
		b.WriteString("\n")
	}
	return b.String(), notes, nil
}

// pattern writes s as a udev match pattern (fnmatch, with | between
// alternatives) that matches s itself: glob characters go into brackets;
// a byte that cannot be written (a quote, a backslash, |, $, %, control
// characters, non-ASCII) becomes ?, which matches any byte, and exact is
// then false.
func pattern(s string) (p string, exact bool) {
	var b strings.Builder
	exact = true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("._+-:/=@#,~^&!()'<>;{}] ", c) >= 0:
			b.WriteByte(c)
		case c == '*', c == '?', c == '[':
			b.WriteString("[" + string(c) + "]")
		default:
			b.WriteByte('?')
			exact = false
		}
	}
	return b.String(), exact
}
