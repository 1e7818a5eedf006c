package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// posReportDescriptor describes a HID POS bar code scanner (usage page
// 0x8C) whose only report is the 64-byte scanned data report of
// hidpos.Standard: report ID 2 and 63 bytes (length, AIM symbology
// identifier, data, continuation flag), all as one buffer here.
var posReportDescriptor = []byte{
	0x06, 0x8C, 0x00, // Usage Page (Bar Code Scanner)
	0x09, 0x02, //       Usage (Bar Code Scanner)
	0xA1, 0x01, //       Collection (Application)
	0x09, 0x12, //         Usage (Scanned Data Report)
	0xA1, 0x02, //         Collection (Logical)
	0x85, 0x02, //           Report ID (2)
	0x15, 0x00, //           Logical Minimum (0)
	0x26, 0xFF, 0x00, //     Logical Maximum (255)
	0x75, 0x08, //           Report Size (8)
	0x95, 0x3F, //           Report Count (63)
	0x09, 0xFE, //           Usage (Decoded Data)
	0x82, 0x02, 0x01, //     Input (Data, Variable, Absolute, Buffered Bytes)
	0xC0, //               End Collection
	0xC0, //             End Collection
}

// gadgetDir is a USB gadget described in configfs.
type gadgetDir struct {
	dir string
}

// create describes the scanner with identity "VID:PID[:SERIAL]" (hex) and
// plugs it in. It has two functions, as many scanners do: HID POS, and a
// CDC-ACM serial port (the host's /dev/ttyACM0, the gadget's /dev/ttyGS0).
func (g *gadgetDir) create(id string) error {
	parts := strings.Split(id, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("%q is not VID:PID[:SERIAL]", id)
	}
	vid, err1 := strconv.ParseUint(parts[0], 16, 16)
	pid, err2 := strconv.ParseUint(parts[1], 16, 16)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("%q: %w", id, err)
	}
	serialNo := "HIL0001"
	if len(parts) == 3 {
		serialNo = parts[2]
	}
	d := g.dir
	fn := filepath.Join(d, "functions", "hid.usb0")
	acm := filepath.Join(d, "functions", "acm.usb0")
	cfg := filepath.Join(d, "configs", "c.1")
	for _, dir := range []string{d, filepath.Join(d, "strings", "0x409"), fn, acm, cfg, filepath.Join(cfg, "strings", "0x409")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	files := []struct {
		path string
		data []byte
	}{
		{"idVendor", fmt.Appendf(nil, "0x%04x", vid)},
		{"idProduct", fmt.Appendf(nil, "0x%04x", pid)},
		{"bcdDevice", []byte("0x0100")},
		{"bcdUSB", []byte("0x0200")},
		{"strings/0x409/manufacturer", []byte("tillbox HIL")},
		{"strings/0x409/product", []byte("HID POS scanner")},
		{"strings/0x409/serialnumber", []byte(serialNo)},
		{"functions/hid.usb0/protocol", []byte("0")},
		{"functions/hid.usb0/subclass", []byte("0")},
		{"functions/hid.usb0/report_length", []byte("64")},
		{"functions/hid.usb0/report_desc", posReportDescriptor},
		{"configs/c.1/strings/0x409/configuration", []byte("HID POS")},
		{"configs/c.1/MaxPower", []byte("100")},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(d, f.path), f.data, 0o644); err != nil {
			return err
		}
	}
	for _, f := range []string{fn, acm} {
		if err := os.Symlink(f, filepath.Join(cfg, filepath.Base(f))); err != nil {
			return err
		}
	}
	return g.udc(true)
}

// udc plugs the gadget into the first UDC (dummy_hcd's), or unplugs it.
func (g *gadgetDir) udc(plug bool) error {
	name := ""
	if plug {
		udcs, err := os.ReadDir("/sys/class/udc")
		if err != nil || len(udcs) == 0 {
			return fmt.Errorf("no USB device controller in /sys/class/udc (is dummy_hcd loaded?): %v", err)
		}
		name = udcs[0].Name()
	}
	// The kernel wants a line: "" unbinds, a UDC's name binds.
	if err := os.WriteFile(filepath.Join(g.dir, "UDC"), []byte(name+"\n"), 0o644); err != nil {
		return fmt.Errorf("UDC %q: %w", name, err)
	}
	return nil
}
