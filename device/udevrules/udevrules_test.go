package udevrules

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/device"
)

// sc is a scanner as the configuration writes it.
func sc(name, driver, match string) Scanner {
	m, err := device.ParseMatch(match)
	if err != nil {
		panic(err)
	}
	return Scanner{Spec: device.Spec{Name: name, Driver: driver, Match: m}, Configured: match}
}

// TestGenerate: each configured scanner gets exactly one rule on its own
// subsystem (tty for serial, the USB device node for HID, as libusb opens
// it), by USB identity or by path; nothing else is granted.
func TestGenerate(t *testing.T) {
	scanners := []Scanner{
		sc("counter", "serial", "0c2e:0b61:17001"),
		sc("customer", "hid", "05E0:1200"),
		sc("rs232", "serial", "/dev/ttyS0"),
		sc("byid", "serial", "/dev/serial/by-id/usb-Honeywell_Voyager_17001-if00"),
		sc("fixed", "hid", "/dev/bus/usb/001/007"),
	}
	rules, notes, err := Generate(scanners, "tillbox", "/etc/tillbox/tillbox.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := "# /etc/udev/rules.d/70-tillbox.rules: made by `tillbox udev-rules` from /etc/tillbox/tillbox.toml." + `
# Gives the group tillbox read-write access to the configured scanners, and to
# nothing else. Made again by scripts/install.sh: run it after changing the
# [[scanner]] tables.

# scanner "counter": serial, match "0c2e:0b61:17001": its tty
SUBSYSTEM=="tty", ATTRS{idVendor}=="0c2e", ATTRS{idProduct}=="0b61", ATTRS{serial}=="17001", GROUP="tillbox", MODE="0660", SYMLINK+="tillbox/counter", ENV{ID_MM_DEVICE_IGNORE}="1"

# scanner "customer": hid, match "05E0:1200": its USB device node (libusb)
SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{idVendor}=="05e0", ATTR{idProduct}=="1200", GROUP="tillbox", MODE="0660", SYMLINK+="tillbox/customer"

# scanner "rs232": serial, match "/dev/ttyS0": its tty
SUBSYSTEM=="tty", KERNEL=="ttyS0", GROUP="tillbox", MODE="0660", ENV{ID_MM_DEVICE_IGNORE}="1"

# scanner "byid": serial, match "/dev/serial/by-id/usb-Honeywell_Voyager_17001-if00": its tty
SUBSYSTEM=="tty", SYMLINK=="serial/by-id/usb-Honeywell_Voyager_17001-if00", GROUP="tillbox", MODE="0660", ENV{ID_MM_DEVICE_IGNORE}="1"

# scanner "fixed": hid, match "/dev/bus/usb/001/007": its USB device node (libusb)
# (a USB address changes on replug: prefer VID:PID[:SERIAL])
SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ENV{DEVNAME}=="/dev/bus/usb/001/007", GROUP="tillbox", MODE="0660"
`
	if rules != want {
		t.Errorf("rules:\n%s\nwant:\n%s", rules, want)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], `"fixed"`) || !strings.Contains(notes[0], "replugged") {
		t.Errorf("notes %q", notes)
	}
	// Nothing grants a whole class: every rule names one device.
	for _, line := range strings.Split(rules, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, "idVendor") && !strings.Contains(line, "KERNEL==") && !strings.Contains(line, "SYMLINK==") && !strings.Contains(line, "DEVNAME}==") {
			t.Errorf("a rule that names no device: %s", line)
		}
		if strings.Contains(line, "hidraw") || strings.Contains(line, "dialout") || strings.Contains(line, "plugdev") {
			t.Errorf("a rule grants more than the scanner: %s", line)
		}
	}
}

// TestGenerateNothing: no scanner, no rule.
func TestGenerateNothing(t *testing.T) {
	rules, notes, err := Generate(nil, "tillbox", "")
	if err != nil || len(notes) != 0 {
		t.Fatal(err, notes)
	}
	for _, line := range strings.Split(rules, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			t.Errorf("a rule without scanners: %s", line)
		}
	}
	if !strings.Contains(rules, "no device is granted") {
		t.Errorf("rules do not say that nothing is granted:\n%s", rules)
	}
}

// TestGenerateOddSerials: a serial number with glob characters matches
// itself literally; one with characters a udev pattern cannot hold gets ?
// there and a note; the rule never breaks out of its quotes.
func TestGenerateOddSerials(t *testing.T) {
	rules, notes, err := Generate([]Scanner{
		sc("glob", "hid", "05e0:1200:A*B?[C]"),
		sc("quote", "serial", `0c2e:0b61:X"Y|Z\$%`),
	}, "tillbox", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rules, `ATTR{serial}=="A[*]B[?][[]C]"`) {
		t.Errorf("glob characters not bracketed:\n%s", rules)
	}
	if !strings.Contains(rules, `ATTRS{serial}=="X?Y?Z???"`) {
		t.Errorf("unwritable characters not replaced:\n%s", rules)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], `"quote"`) {
		t.Errorf("notes %q", notes)
	}
}

// TestGenerateRefuses: a path outside /dev or a bad group is an error
// naming the scanner, never a file that grants less than it says. (A bad
// match is the configuration's: config.Specs names its scanner.)
func TestGenerateRefuses(t *testing.T) {
	for _, tc := range []struct {
		scanners []Scanner
		group    string
		want     string
	}{
		{[]Scanner{sc("x", "serial", "/tmp/pty")}, "tillbox", `scanner "x": match "/tmp/pty" is not a device under /dev`},
		{[]Scanner{sc("y", "serial", "/dev/../etc/passwd")}, "tillbox", `scanner "y"`},
		{[]Scanner{sc("z", "bluetooth", "0c2e:0b61")}, "tillbox", `driver "bluetooth"`},
		{nil, `till"box`, "not a plain group name"},
	} {
		_, _, err := Generate(tc.scanners, tc.group, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Generate(%v, %q) = %v, want %q", tc.scanners, tc.group, err, tc.want)
		}
	}
}

// TestUnitAllowsTheNodes: the unit's device allow-list is the USB device
// class (HID scanners) and exactly the tty classes UnitTTYs names; a
// path-matched serial scanner on another tty gets a note saying so.
func TestUnitAllowsTheNodes(t *testing.T) {
	unit, err := os.ReadFile("../../scripts/systemd/tillbox.service")
	if err != nil {
		t.Fatal(err)
	}
	var allowed []string
	for _, m := range regexp.MustCompile(`(?m)^DeviceAllow=char-(\S+) rw$`).FindAllStringSubmatch(string(unit), -1) {
		allowed = append(allowed, m[1])
	}
	want := append([]string{"usb_device"}, UnitTTYs...)
	slices.Sort(allowed)
	slices.Sort(want)
	if !slices.Equal(allowed, want) {
		t.Errorf("the unit allows %v, the rules expect %v", allowed, want)
	}
	for _, line := range strings.Split(string(unit), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, bad := range []string{"SupplementaryGroups", "dialout", "plugdev", "hidraw"} {
			if strings.Contains(line, bad) {
				t.Errorf("the unit grants more than the scanners: %s", line)
			}
		}
	}
	// The configuration is read-only to the service (PRODUCT.md): it may
	// write its data folder, nothing else.
	if !regexp.MustCompile(`(?m)^DevicePolicy=closed$`).Match(unit) || !regexp.MustCompile(`(?m)^ReadWritePaths=/var/lib/tillbox$`).Match(unit) {
		t.Errorf("the unit lacks DevicePolicy=closed or ReadWritePaths=/var/lib/tillbox (and no more)")
	}

	_, notes, err := Generate([]Scanner{
		sc("pi", "serial", "/dev/ttyAMA0"),
		sc("bt", "serial", "/dev/rfcomm0"),
	}, "tillbox", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], `"bt"`) || !strings.Contains(notes[0], "DeviceAllow=") {
		t.Errorf("notes %q", notes)
	}
}
