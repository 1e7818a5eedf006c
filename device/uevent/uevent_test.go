package uevent

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// msg joins the header and the pairs with NULs, as the kernel sends them.
func msg(parts ...string) []byte {
	return []byte(strings.Join(parts, "\x00") + "\x00")
}

// Messages as an arm64 box's kernel sends them when an FTDI adapter and a
// HID scanner are plugged in.
var (
	ttyAdd = msg("add@/devices/platform/4010000000.pcie/pci0000:00/0000:00:02.0/usb1/1-1/1-1:1.0/ttyUSB0/tty/ttyUSB0",
		"ACTION=add", "DEVPATH=/devices/platform/4010000000.pcie/pci0000:00/0000:00:02.0/usb1/1-1/1-1:1.0/ttyUSB0/tty/ttyUSB0",
		"SUBSYSTEM=tty", "MAJOR=188", "MINOR=0", "DEVNAME=ttyUSB0", "SEQNUM=1187")
	usbBind = msg("bind@/devices/platform/4010000000.pcie/pci0000:00/0000:00:02.0/usb1/1-2",
		"ACTION=bind", "DEVPATH=/devices/platform/4010000000.pcie/pci0000:00/0000:00:02.0/usb1/1-2",
		"SUBSYSTEM=usb", "DEVNAME=bus/usb/001/003", "DEVTYPE=usb_device", "DRIVER=usb", "PRODUCT=1d6b/104/510",
		"TYPE=0/0/0", "BUSNUM=001", "DEVNUM=003", "SEQNUM=1203", "MAJOR=189", "MINOR=2")
	hidrawRemove = msg("remove@/devices/platform/4010000000.pcie/pci0000:00/0000:00:02.0/usb1/1-2/1-2:1.0/0003:1D6B:0104.0002/hidraw/hidraw1",
		"ACTION=remove", "DEVPATH=/devices/platform/4010000000.pcie/pci0000:00/0000:00:02.0/usb1/1-2/1-2:1.0/0003:1D6B:0104.0002/hidraw/hidraw1",
		"SUBSYSTEM=hidraw", "MAJOR=244", "MINOR=1", "DEVNAME=hidraw1", "SEQNUM=1250")
	netAdd = msg("add@/devices/virtual/net/veth0", "ACTION=add", "DEVPATH=/devices/virtual/net/veth0",
		"SUBSYSTEM=net", "INTERFACE=veth0", "IFINDEX=7", "SEQNUM=1300")
)

func TestParse(t *testing.T) {
	e, err := Parse(ttyAdd)
	if err != nil {
		t.Fatal(err)
	}
	if e.Action != "add" || e.Subsystem != "tty" || e.DevName != "ttyUSB0" || !strings.HasSuffix(e.DevPath, "/tty/ttyUSB0") || e.Env["MAJOR"] != "188" || len(e.Env) != 7 {
		t.Errorf("%+v", e)
	}
	if !e.Plugged() {
		t.Error("a serial port added is not Plugged")
	}
}

func TestPlugged(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  []byte
		want bool
	}{
		{"tty add", ttyAdd, true},
		{"usb bind", usbBind, true},
		{"hidraw remove", hidrawRemove, false},
		{"net add", netAdd, false},
		{"usb-serial add", msg("add@/devices/x/ttyUSB0", "ACTION=add", "DEVPATH=/devices/x/ttyUSB0", "SUBSYSTEM=usb-serial"), true},
		{"hidraw add", msg("add@/devices/x/hidraw0", "ACTION=add", "DEVPATH=/devices/x/hidraw0", "SUBSYSTEM=hidraw", "DEVNAME=hidraw0"), true},
		{"usb change", msg("change@/devices/x/1-1", "ACTION=change", "DEVPATH=/devices/x/1-1", "SUBSYSTEM=usb"), false},
	} {
		e, err := Parse(tc.msg)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if e.Plugged() != tc.want {
			t.Errorf("%s: Plugged %v, want %v", tc.name, !tc.want, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, msg, err string
	}{
		{"empty", "", "not ACTION@DEVPATH"},
		{"no @", "add/devices/x\x00ACTION=add\x00", "not ACTION@DEVPATH"},
		{"no action", "@/devices/x\x00ACTION=\x00", "not ACTION@DEVPATH"},
		{"relative path", "add@devices/x\x00ACTION=add\x00DEVPATH=devices/x\x00SUBSYSTEM=tty\x00", "not ACTION@DEVPATH"},
		{"not a pair", "add@/devices/x\x00ACTION=add\x00garbage\x00", `"garbage" is not KEY=VALUE`},
		{"empty key", "add@/devices/x\x00=add\x00", "is not KEY=VALUE"},
		{"empty field", "add@/devices/x\x00\x00ACTION=add\x00", `"" is not KEY=VALUE`},
		{"twice", "add@/devices/x\x00ACTION=add\x00ACTION=remove\x00", "ACTION given twice"},
		{"header disagrees", "add@/devices/x\x00ACTION=remove\x00DEVPATH=/devices/x\x00SUBSYSTEM=tty\x00", "disagrees"},
		{"no subsystem", "add@/devices/x\x00ACTION=add\x00DEVPATH=/devices/x\x00", "no SUBSYSTEM"},
		{"udev", "libudev\x00\xfe\xed\xca\xfe", "udev message"},
		{"too long", "add@/" + strings.Repeat("x", MaxMessage), "over 8192"},
	} {
		_, err := Parse([]byte(tc.msg))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.err)
		}
	}
}

// encode makes the kernel's message of e, its pairs sorted.
func encode(e Event) []byte {
	parts := []string{e.Action + "@" + e.DevPath}
	for _, k := range slices.Sorted(maps.Keys(e.Env)) {
		parts = append(parts, k+"="+e.Env[k])
	}
	return msg(parts...)
}

// FuzzParse: Parse never panics, what it accepts has the fields every
// kernel message has, and the event written back is read the same.
func FuzzParse(f *testing.F) {
	for _, m := range [][]byte{ttyAdd, usbBind, hidrawRemove, netAdd, []byte("libudev\x00x"), []byte("add@/x\x00ACTION=add\x00")} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, m []byte) {
		e, err := Parse(m)
		if err != nil {
			return
		}
		if e.Action == "" || !strings.HasPrefix(e.DevPath, "/") || e.Subsystem == "" || e.Env["ACTION"] != e.Action || e.Env["SUBSYSTEM"] != e.Subsystem || e.Env["DEVNAME"] != e.DevName {
			t.Fatalf("accepted %q as %+v", m, e)
		}
		again, err := Parse(encode(e))
		if err != nil {
			t.Fatalf("%q parsed as %+v, written back as %q: %v", m, e, encode(e), err)
		}
		if again.Action != e.Action || again.DevPath != e.DevPath || again.Subsystem != e.Subsystem || again.DevName != e.DevName || !maps.Equal(again.Env, e.Env) {
			t.Fatalf("%q read as %+v, then %+v", m, e, again)
		}
	})
}
