package device

import "testing"

func TestHIDDevice(t *testing.T) {
	for _, tc := range []struct {
		d                       HIDDevice
		match, kind, node, text string
	}{
		{HIDDevice{VID: 0x0c2e, PID: 0x0b87, SerialNumber: "P1", Manufacturer: "Honeywell", Product: "Xenon", UsagePage: 0x8c, Usage: 2, Interface: 1, Path: "0001:000a:01"},
			"0c2e:0b87:P1", "HID POS", "/dev/bus/usb/001/010", "0c2e:0b87 serial P1  Honeywell Xenon  interface 1  HID POS"},
		{HIDDevice{VID: 0x0627, PID: 0x0001, Product: "QEMU USB Keyboard", UsagePage: 1, Usage: 6, Path: "0003:0002:00"},
			"0627:0001", "keyboard", "/dev/bus/usb/003/002", "0627:0001  QEMU USB Keyboard  interface 0  keyboard"},
		{HIDDevice{VID: 0x1eab, PID: 0x0001, SerialNumber: "has space", Path: "0001:0002:00"},
			"1eab:0001", "", "/dev/bus/usb/001/002", "1eab:0001 serial has space  interface 0"},
		{HIDDevice{VID: 0x046d, PID: 0xc52b, UsagePage: 0x0c, Usage: 1, Interface: 2, Path: "IOService:/x"},
			"046d:c52b", "usage page 0x000c usage 0x0001", "", "046d:c52b  interface 2  usage page 0x000c usage 0x0001"},
	} {
		if m, k, n, s := tc.d.Match(), tc.d.Kind(), tc.d.Node(), tc.d.String(); m != tc.match || k != tc.kind || n != tc.node || s != tc.text {
			t.Errorf("%+v:\n got %q %q %q %q\nwant %q %q %q %q", tc.d, m, k, n, s, tc.match, tc.kind, tc.node, tc.text)
		}
	}
	if _, _, _, ok := ParseLibusbPath("0001::00"); ok {
		t.Error("empty part parsed")
	}
}
