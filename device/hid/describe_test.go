package hid

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/device"
)

// fakeSysfs writes the tree described in testdata/sysfs/NAME (see its
// README) into a new directory and returns it.
func fakeSysfs(t *testing.T, name string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "sysfs", name))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	var path string
	var content strings.Builder
	flush := func() {
		if path == "" {
			return
		}
		data := []byte(content.String())
		p := path
		if strings.HasSuffix(p, ".hex") {
			p = strings.TrimSuffix(p, ".hex")
			var digits strings.Builder
			for line := range strings.SplitSeq(content.String(), "\n") {
				code, _, _ := strings.Cut(line, "#")
				digits.WriteString(strings.Join(strings.Fields(code), ""))
			}
			if data, err = hex.DecodeString(digits.String()); err != nil {
				t.Fatalf("%s: %s: %v", name, path, err)
			}
		}
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for line := range strings.SplitSeq(string(text), "\n") {
		if h, ok := strings.CutPrefix(line, "-- "); ok && strings.HasSuffix(h, " --") {
			flush()
			path, content = "", strings.Builder{}
			h = strings.TrimSuffix(h, " --")
			if link, target, isLink := strings.Cut(h, " -> "); isLink {
				full := filepath.Join(root, filepath.FromSlash(link))
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, full); err != nil {
					t.Fatal(err)
				}
				continue
			}
			path = h
			continue
		}
		if path != "" {
			content.WriteString(line + "\n")
		}
	}
	flush()
	return root
}

// TestDescribe: what a static build's hidapi lists (no strings, no usage
// page) completed from a sysfs tree like the HIL guest's, with the odd
// parts of a real one.
func TestDescribe(t *testing.T) {
	root := fakeSysfs(t, "box.txt")
	list := []device.HIDDevice{
		{VID: 0x0627, PID: 0x0001, Path: "0001:0002:00"},
		{VID: 0x1d6b, PID: 0x0104, Path: "0003:0002:00"},
		{VID: 0x05e0, PID: 0x1200, Path: "0002:0005:00"},
		{VID: 0x05e0, PID: 0x1200, Interface: 1, Path: "0002:0005:01"},
		{VID: 0x0c2e, PID: 0x0b87, Interface: 1, Product: "from hidapi", Path: "0002:0006:01"},
		{VID: 0x1eab, PID: 0x0001, Product: "from hidapi", Path: "0002:0007:00"},
		{VID: 0x1234, PID: 0x5678, Path: "0002:0009:00"},
		{VID: 0x1234, PID: 0x5679, Path: "0002:0008:00"},
		{VID: 0x1234, PID: 0x567a, Path: "0009:0001:00"},
		{VID: 0x046d, PID: 0xc52b, Path: "IOService:/x", Product: "mac"},
		{VID: 0x0627, PID: 0x0001, Path: "0001:0002:00", UsagePage: 0x0c, Usage: 1, Product: "hidapi's"},
	}
	describe(root, list)
	want := []device.HIDDevice{
		{VID: 0x0627, PID: 0x0001, Path: "0001:0002:00", Manufacturer: "QEMU", Product: "QEMU USB Keyboard", SerialNumber: "68284-0000:00:01.0-1",
			UsagePage: 0x01, Usage: 0x06, KernelDriver: "usbhid"},
		{VID: 0x1d6b, PID: 0x0104, Path: "0003:0002:00", Manufacturer: "tillbox HIL", Product: "HID POS scanner", SerialNumber: "HIL0001",
			UsagePage: 0x8c, Usage: 0x02, KernelDriver: "usbhid"},
		// Held by a program: no report descriptor; the boot keyboard
		// interface is a keyboard all the same, the other is unknown.
		{VID: 0x05e0, PID: 0x1200, Path: "0002:0005:00", Manufacturer: "Zebra", Product: "DS4308", SerialNumber: "S1",
			UsagePage: 0x01, Usage: 0x06, KernelDriver: "usbfs"},
		{VID: 0x05e0, PID: 0x1200, Interface: 1, Path: "0002:0005:01", Manufacturer: "Zebra", Product: "DS4308", SerialNumber: "S1",
			KernelDriver: "usbfs"},
		// No configuration value: the interface found by its number; a
		// truncated descriptor tells nothing; no strings in sysfs.
		{VID: 0x0c2e, PID: 0x0b87, Interface: 1, Product: "from hidapi", Path: "0002:0006:01"},
		// A string with a control character keeps hidapi's; the interface
		// is missing.
		{VID: 0x1eab, PID: 0x0001, Product: "from hidapi", Path: "0002:0007:00"},
		// Another device at that address now; a bus number that is no
		// number; no such device; not a libusb path.
		{VID: 0x1234, PID: 0x5678, Path: "0002:0009:00"},
		{VID: 0x1234, PID: 0x5679, Path: "0002:0008:00"},
		{VID: 0x1234, PID: 0x567a, Path: "0009:0001:00"},
		{VID: 0x046d, PID: 0xc52b, Path: "IOService:/x", Product: "mac"},
		// A usage page hidapi read stands; sysfs' strings come first.
		{VID: 0x0627, PID: 0x0001, Path: "0001:0002:00", UsagePage: 0x0c, Usage: 1, Manufacturer: "QEMU", Product: "QEMU USB Keyboard",
			SerialNumber: "68284-0000:00:01.0-1", KernelDriver: "usbhid"},
	}
	for i := range want {
		if list[i] != want[i] {
			t.Errorf("device %d:\n got %+v\nwant %+v", i, list[i], want[i])
		}
	}
	if got := list[1].Match(); got != "1d6b:0104:HIL0001" {
		t.Errorf("the gadget's match: %q", got)
	}
	if got := list[1].Kind(); got != "HID POS" {
		t.Errorf("the gadget's kind: %q", got)
	}
}

// TestDescribeNoSysfs: without sysfs (another OS, or not mounted) the
// listing stays as hidapi made it.
func TestDescribeNoSysfs(t *testing.T) {
	for _, root := range []string{"", filepath.Join(t.TempDir(), "none")} {
		list := []device.HIDDevice{{VID: 0x0627, PID: 0x0001, Path: "0001:0002:00", Product: "p"}}
		describe(root, list)
		if list[0] != (device.HIDDevice{VID: 0x0627, PID: 0x0001, Path: "0001:0002:00", Product: "p"}) {
			t.Errorf("root %q: %+v", root, list[0])
		}
	}
}
