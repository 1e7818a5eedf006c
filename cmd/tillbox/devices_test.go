package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/hid"
)

var testMachine = enumerators{
	serial: func() ([]device.SerialPort, error) {
		return []device.SerialPort{
			{Path: "/dev/ttyACM0", USB: true, VID: 0x0c2e, PID: 0x0b61, SerialNumber: "17001", Manufacturer: "Honeywell", Product: "Voyager"},
			{Path: "/dev/ttyS0"},
		}, nil
	},
	hid: func() ([]device.HIDDevice, error) {
		// Not sorted: the command sorts.
		return []device.HIDDevice{
			{VID: 0x05e0, PID: 0x1200, SerialNumber: "S1", Product: "DS4308", UsagePage: 0x8c, Usage: 2, Interface: 1, Path: "0001:0007:01"},
			{VID: 0x0627, PID: 0x0001, Manufacturer: "QEMU", Product: "QEMU USB Keyboard", Path: "0003:0002:00"},
			{VID: 0x05e0, PID: 0x1200, SerialNumber: "S1", Product: "DS4308", UsagePage: 1, Usage: 6, Interface: 0, Path: "0001:0007:00"},
		}, nil
	},
}

func TestDevices(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runDevices(t.Context(), nil, &out, &errOut, testMachine); err != nil {
		t.Fatal(err)
	}
	want := `Serial ports:
  /dev/ttyACM0  0c2e:0b61 serial 17001  Honeywell Voyager
    [[scanner]]
    driver = "serial"
    match = "0c2e:0b61:17001"
  /dev/ttyS0
    [[scanner]]
    driver = "serial"
    match = "/dev/ttyS0"

USB HID devices:
  05e0:1200 serial S1  DS4308  interface 0  keyboard  path 0001:0007:00 (/dev/bus/usb/001/007)
  05e0:1200 serial S1  DS4308  interface 1  HID POS  path 0001:0007:01 (/dev/bus/usb/001/007)
    [[scanner]]
    driver = "hid"
    match = "05e0:1200:S1"
    mode = "hidpos"
  0627:0001  QEMU QEMU USB Keyboard  interface 0  path 0003:0002:00 (/dev/bus/usb/003/002)
    [[scanner]]
    driver = "hid"
    match = "0627:0001"
    # mode = "auto" (the default), "keyboard" (then layout = us, no, da, sv-fi, de) or "hidpos"
`
	if out.String() != want || errOut.Len() != 0 {
		t.Errorf("printed\n%s\nwant\n%s\nstderr %q", out.String(), want, errOut.String())
	}

	out.Reset()
	if err := runDevices(t.Context(), []string{"--json"}, &out, &errOut, testMachine); err != nil {
		t.Fatal(err)
	}
	var list deviceList
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Serial) != 2 || list.Serial[0].Match != "0c2e:0b61:17001" || len(list.HID) != 3 ||
		list.HID[1].Match != "05e0:1200:S1" || list.HID[1].Mode != "hidpos" || list.HID[1].Kind != "HID POS" ||
		list.HID[2].Node != "/dev/bus/usb/003/002" || list.HID[0].Driver != "hid" || list.HIDError != "" {
		t.Errorf("JSON %s", out.String())
	}
	if !strings.Contains(out.String(), `"usagePage": 140`) {
		t.Errorf("JSON lacks the usage page: %s", out.String())
	}
}

// TestDevicesWithoutHID: a build without cgo says why it lists no HID
// device, in the listing and on stderr; a serial listing failure is shown.
func TestDevicesWithoutHID(t *testing.T) {
	en := enumerators{
		serial: func() ([]device.SerialPort, error) { return nil, errors.New("listing serial ports: permission denied") },
		hid:    func() ([]device.HIDDevice, error) { return nil, hid.ErrNotBuilt },
	}
	var out, errOut bytes.Buffer
	if err := runDevices(t.Context(), nil, &out, &errOut, en); err != nil {
		t.Fatal(err)
	}
	want := "Serial ports:\n  cannot list them: listing serial ports: permission denied\n\nUSB HID devices:\n  " + hid.ErrNotBuilt.Error() + "\n"
	if out.String() != want || errOut.String() != "tillbox devices: USB HID: "+hid.ErrNotBuilt.Error()+"\n" {
		t.Errorf("printed %q, stderr %q", out.String(), errOut.String())
	}
	out.Reset()
	if err := runDevices(t.Context(), []string{"--json"}, &out, &errOut, en); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"hidError": "this tillbox was built without cgo`) || !strings.Contains(out.String(), `"hid": []`) {
		t.Errorf("JSON %s", out.String())
	}
	if err := runDevices(t.Context(), []string{"extra"}, &out, &errOut, en); !errors.Is(err, errUsage) {
		t.Errorf("extra argument: %v", err)
	}
}

// TestDevicesThisMachine runs the real enumerators (this test binary has
// cgo): the command works and lists no HID error.
func TestDevicesThisMachine(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"devices"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "USB HID devices:") || strings.Contains(out.String(), "without cgo") || errOut.Len() != 0 {
		t.Errorf("printed %s\nstderr %s", out.String(), errOut.String())
	}
}
