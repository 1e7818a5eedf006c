package usbsysfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// write makes the files of a tree: path → content; content "->X" makes a
// symlink to X.
func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if len(c) > 2 && c[:2] == "->" {
			err = os.Symlink(c[2:], full)
		} else {
			err = os.WriteFile(full, []byte(c), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestLookup reads one interface of a device; device/hid's describe tests
// read a whole box's tree.
func TestLookup(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"bus/usb/devices/1-1.2/busnum":                                    "1\n",
		"bus/usb/devices/1-1.2/devnum":                                    "12\n",
		"bus/usb/devices/1-1.2/idVendor":                                  "0c2e\n",
		"bus/usb/devices/1-1.2/idProduct":                                 "0b87\n",
		"bus/usb/devices/1-1.2/manufacturer":                              "Honeywell\n",
		"bus/usb/devices/1-1.2/product":                                   "Xenon 1900\n",
		"bus/usb/devices/1-1.2/serial":                                    "17001ABC\n",
		"bus/usb/devices/1-1.2/bConfigurationValue":                       "1\n",
		"bus/usb/devices/1-1.2:1.1/bInterfaceNumber":                      "01\n",
		"bus/usb/devices/1-1.2:1.1/bInterfaceClass":                       "03\n",
		"bus/usb/devices/1-1.2:1.1/bInterfaceSubClass":                    "00\n",
		"bus/usb/devices/1-1.2:1.1/bInterfaceProtocol":                    "00\n",
		"bus/usb/devices/1-1.2:1.1/driver":                                "->../../../bus/usb/drivers/usbhid",
		"bus/usb/devices/1-1.2:1.1/power/control":                         "auto\n",
		"bus/usb/devices/1-1.2:1.1/0003:0C2E:0B87.0004/report_descriptor": "\x05\x8c\x09\x02\xa1\x01\xc0",
	})
	tr := &Tree{Root: root}
	in, err := tr.Lookup(1, 12, 1)
	if err != nil {
		t.Fatal(err)
	}
	if in.Manufacturer != "Honeywell" || in.Product != "Xenon 1900" || in.Serial != "17001ABC" || in.VID != 0x0c2e || in.PID != 0x0b87 ||
		in.Class != ClassHID || in.SubClass != 0 || in.Protocol != 0 || in.Driver != DriverUSBHID ||
		string(in.ReportDescriptor) != "\x05\x8c\x09\x02\xa1\x01\xc0" || in.Dir != filepath.Join(root, "bus/usb/devices/1-1.2:1.1") {
		t.Errorf("Lookup: %+v", in)
	}
	if _, err := tr.Lookup(1, 13, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("no device: %v", err)
	}
	if in, err := tr.Lookup(1, 12, 0); err == nil || in.Product != "Xenon 1900" {
		t.Errorf("no such interface: %+v, %v", in, err)
	}
	if _, err := (&Tree{Root: filepath.Join(root, "none")}).Lookup(1, 12, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("no sysfs: %v", err)
	}
}
