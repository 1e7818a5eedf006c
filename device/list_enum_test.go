//go:build !darwin || cgo

package device

import (
	"testing"

	"go.bug.st/serial/enumerator"
)

func TestSerialPorts(t *testing.T) {
	got := serialPorts([]*enumerator.PortDetails{
		{Name: "/dev/ttyS0"},
		{Name: "/dev/ttyUSB0", IsUSB: true, VID: "0403", PID: "6001", SerialNumber: "FT1", Product: "FT232R", Manufacturer: "FTDI"},
		{Name: "/dev/ttyACM0", IsUSB: true, VID: "0C2E", PID: "0B61", Product: "Voyager"},
		{Name: "/dev/ttyACM9", IsUSB: true, VID: "xyz", PID: "0001"},
	})
	want := []struct{ path, match, str string }{
		{"/dev/ttyACM0", "0c2e:0b61", "/dev/ttyACM0  0c2e:0b61  Voyager"},
		{"/dev/ttyUSB0", "0403:6001:FT1", "/dev/ttyUSB0  0403:6001 serial FT1  FTDI FT232R"},
		{"/dev/ttyACM9", "/dev/ttyACM9", "/dev/ttyACM9"},
		{"/dev/ttyS0", "/dev/ttyS0", "/dev/ttyS0"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d ports", len(got))
	}
	for i, w := range want {
		if got[i].Path != w.path || got[i].Match() != w.match || got[i].String() != w.str {
			t.Errorf("port %d: %s %q %q, want %s %q %q", i, got[i].Path, got[i].Match(), got[i].String(), w.path, w.match, w.str)
		}
	}
	if p := (SerialPort{Path: "/dev/ttyACM1", USB: true, VID: 1, PID: 2, SerialNumber: "has space"}); p.Match() != "0001:0002" {
		t.Errorf("serial number with a space in the match: %q", p.Match())
	}
}

// TestListSerial runs the real enumerator on this machine: it must not
// fail, and whatever it lists has a path.
func TestListSerial(t *testing.T) {
	ports, err := ListSerial()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if p.Path == "" {
			t.Errorf("port without a path: %+v", p)
		}
	}
	t.Logf("%d serial ports", len(ports))
}
