package hid

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/devicetest"
	"github.com/tillbox/tillbox/device/frame"
	"github.com/tillbox/tillbox/device/hidkbd"
	"github.com/tillbox/tillbox/device/hidpos"
)

const vippsClear = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"

// A keyboard-mode scanner (a boot keyboard interface) and a HID POS one.
var (
	kbdScanner = device.HIDDevice{VID: 0x0c2e, PID: 0x0b61, SerialNumber: "K1", Manufacturer: "Honeywell", Product: "Voyager 1450g",
		Interface: 0, Path: "0001:0004:00"}
	posScanner = device.HIDDevice{VID: 0x0c2e, PID: 0x0b87, SerialNumber: "P1", Product: "Xenon POS",
		UsagePage: device.UsagePagePOS, Usage: 0x02, Interface: 0, Path: "0001:0005:00"}
	newlandScanner = device.HIDDevice{VID: newlandVID, PID: 0x0001, Product: "NLS-FR40", Path: "0002:0003:00"}
)

func openScanner(t *testing.T, c Config, bus *fakeBus) *Scanner {
	t.Helper()
	if c.Name == "" {
		c.Name = "front"
	}
	c.Enumerate, c.OpenDevice = bus.enumerate, bus.open
	s, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// replay feeds the reports with a 0-byte read before each (hidapi returns
// those between reports), unplugs the device, and returns every scan.
func replay(t *testing.T, s *Scanner, dev *fakeDevice, reports [][]byte) []device.Scan {
	t.Helper()
	var got []device.Scan
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sc := range s.Scans() {
			got = append(got, sc)
		}
	}()
	for _, r := range reports {
		if !dev.feed(nil, r) {
			t.Fatal("device closed while feeding")
		}
	}
	dev.pull()
	<-done
	return got
}

func usMatch(d device.HIDDevice) device.Match {
	return device.Match{VID: d.VID, PID: d.PID, Serial: d.SerialNumber}
}

// TestKeyboardFixtures replays every recorded keyboard-mode session of
// device/hidkbd through the driver: the Vipps URL typed in each layout and
// the edge cases.
func TestKeyboardFixtures(t *testing.T) {
	files, _ := filepath.Glob("../hidkbd/testdata/reports/*.hex")
	if len(files) < 15 {
		t.Fatalf("only %d fixtures", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			fx := devicetest.ReadFixture(t, file)
			l, err := hidkbd.LayoutByName(fx.Layout)
			if err != nil {
				t.Fatal(err)
			}
			bus := &fakeBus{list: []device.HIDDevice{kbdScanner}}
			s := openScanner(t, Config{Match: usMatch(kbdScanner), Mode: ModeKeyboard, Layout: l}, bus)
			got := replay(t, s, bus.last(t), fx.Reports)
			if len(got) != len(fx.Want) {
				t.Fatalf("got %d scans %v, want %v", len(got), got, fx.Want)
			}
			for i, w := range fx.Want {
				if string(got[i].Data) != w.Data || got[i].Source != "front" || got[i].At.IsZero() {
					t.Errorf("scan %d: %q from %q, want %q", i, got[i].Data, got[i].Source, w.Data)
				}
			}
			if st := s.Status(); st.Scans != uint64(len(fx.Want)) || st.Mode != "keyboard, "+fx.Layout {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// TestPOSFixtures replays the recorded HID POS sessions of device/hidpos,
// codes split over several reports included.
func TestPOSFixtures(t *testing.T) {
	files, _ := filepath.Glob("../hidpos/testdata/reports/*.hex")
	if len(files) < 8 {
		t.Fatalf("only %d fixtures", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			fx := devicetest.ReadFixture(t, file)
			dev := posScanner
			if fx.Format == "newland" {
				dev = newlandScanner
			}
			bus := &fakeBus{list: []device.HIDDevice{dev}}
			s := openScanner(t, Config{Match: usMatch(dev), Mode: ModePOS}, bus)
			got := replay(t, s, bus.last(t), fx.Reports)
			if len(got) != len(fx.Want) {
				t.Fatalf("got %d scans %v, want %v", len(got), got, fx.Want)
			}
			for i, w := range fx.Want {
				if string(got[i].Data) != w.Data || got[i].Symbology != w.Symbology {
					t.Errorf("scan %d: %q %q, want %s", i, got[i].Data, got[i].Symbology, w)
				}
			}
		})
	}
}

func TestAutoMode(t *testing.T) {
	kbdReports, err := hidkbd.Encode(mustLayout(t, "de"), vippsClear+"\n")
	if err != nil {
		t.Fatal(err)
	}
	var typed [][]byte
	for _, r := range kbdReports {
		typed = append(typed, r[:])
	}
	posReports, err := hidpos.Encode(hidpos.Standard, []byte(vippsClear), "]Q1")
	if err != nil {
		t.Fatal(err)
	}
	unknownPOS := posScanner
	unknownPOS.UsagePage, unknownPOS.Usage = 0, 0
	keyboard := kbdScanner
	keyboard.UsagePage, keyboard.Usage = device.UsagePageGenericDesktop, device.UsageKeyboard
	for _, tc := range []struct {
		name       string
		dev        device.HIDDevice
		reports    [][]byte
		before     string // Status.Mode before the first report
		after, sym string
	}{
		{"usage page 0x8C", posScanner, posReports, "auto: hidpos", "auto: hidpos", "]Q1"},
		{"keyboard usage", keyboard, typed, "auto: keyboard, de", "auto: keyboard, de", ""},
		{"unknown usage, keyboard reports", kbdScanner, typed, "auto", "auto: keyboard, de", ""},
		{"unknown usage, HID POS reports", unknownPOS, posReports, "auto", "auto: hidpos", "]Q1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bus := &fakeBus{list: []device.HIDDevice{tc.dev}}
			s := openScanner(t, Config{Match: usMatch(tc.dev), Layout: mustLayout(t, "de")}, bus)
			if st := s.Status(); st.Mode != tc.before {
				t.Errorf("mode before %q, want %q", st.Mode, tc.before)
			}
			got := replay(t, s, bus.last(t), tc.reports)
			if len(got) != 1 || string(got[0].Data) != vippsClear || got[0].Symbology != tc.sym {
				t.Fatalf("got %v", got)
			}
			if st := s.Status(); st.Mode != tc.after {
				t.Errorf("mode after %q, want %q", st.Mode, tc.after)
			}
		})
	}
}

func mustLayout(t testing.TB, name string) *hidkbd.Layout {
	t.Helper()
	l, err := hidkbd.LayoutByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestStatusIdentity(t *testing.T) {
	bus := &fakeBus{list: []device.HIDDevice{kbdScanner}}
	s := openScanner(t, Config{Match: usMatch(kbdScanner), Mode: ModeKeyboard, Layout: mustLayout(t, "no")}, bus)
	st := s.Status()
	want := device.Status{Name: "front", Driver: "hid", Match: "0c2e:0b61:K1", Mode: "keyboard, no", Connected: true,
		Path: "0001:0004:00", Product: "Voyager 1450g", Manufacturer: "Honeywell", VIDPID: "0c2e:0b61", SerialNumber: "K1", Since: st.Since}
	if st != want || st.Since.IsZero() {
		t.Errorf("status\n%+v, want\n%+v", st, want)
	}
}

func TestAffixes(t *testing.T) {
	bus := &fakeBus{list: []device.HIDDevice{posScanner}}
	s := openScanner(t, Config{Match: usMatch(posScanner), Affixes: frame.Affixes{Prefix: "<", Suffix: ">"}}, bus)
	var reports [][]byte
	for _, code := range []string{"<" + vippsClear + ">", vippsClear + ">", "<>", "plain"} {
		r, err := hidpos.Encode(hidpos.Standard, []byte(code), "]Q1")
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, r...)
	}
	got := replay(t, s, bus.last(t), reports)
	var data []string
	for _, g := range got {
		data = append(data, string(g.Data))
	}
	// "<>" is nothing once stripped: no scan.
	if want := []string{vippsClear, vippsClear, "plain"}; !slices.Equal(data, want) {
		t.Errorf("got %q, want %q", data, want)
	}
}

// TestCloseUnblocksRead: Read has no timeout; Close closes the device,
// which ends it.
func TestCloseUnblocksRead(t *testing.T) {
	bus := &fakeBus{list: []device.HIDDevice{kbdScanner}}
	s := openScanner(t, Config{Match: usMatch(kbdScanner)}, bus)
	dev := bus.last(t)
	if !dev.feed(nil, nil) { // two empty reads: the goroutine is in Read
		t.Fatal("closed")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, ok := <-s.Scans(); ok {
		t.Error("Scans open after Close")
	}
	if !dev.isClosed() || s.Status().Connected {
		t.Errorf("device closed %v, status %+v", dev.isClosed(), s.Status())
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseWhileDelivering: a scan nobody reads does not hold Close up.
func TestCloseWhileDelivering(t *testing.T) {
	bus := &fakeBus{list: []device.HIDDevice{posScanner}}
	s := openScanner(t, Config{Match: usMatch(posScanner)}, bus)
	dev := bus.last(t)
	r, _ := hidpos.Encode(hidpos.Standard, []byte("x1234"), "")
	for range cap(s.Scans()) + 1 { // the last one waits in deliver
		if !dev.feed(r...) {
			t.Fatal("closed")
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestUnplug: a read error (the device removed) stops the scanner, which
// says why; the manager opens it again.
func TestUnplug(t *testing.T) {
	bus := &fakeBus{list: []device.HIDDevice{kbdScanner}}
	s := openScanner(t, Config{Match: usMatch(kbdScanner)}, bus)
	bus.last(t).pull()
	if _, ok := <-s.Scans(); ok {
		t.Fatal("a scan from nowhere")
	}
	err := s.Close()
	if err == nil || !strings.Contains(err.Error(), "reading the device: hidapi: unknown failure") {
		t.Errorf("Close: %v", err)
	}
	st := s.Status()
	if st.Connected || !strings.HasPrefix(st.LastError, "lost: reading the device") || st.LastErrorAt.IsZero() {
		t.Errorf("status %+v", st)
	}
	if !bus.last(t).isClosed() {
		t.Error("device not released")
	}
}

func TestDroppedInput(t *testing.T) {
	fx := devicetest.ReadFixture(t, "../hidkbd/testdata/reports/unknown.hex") // 2 reports that are not 8 bytes
	bus := &fakeBus{list: []device.HIDDevice{kbdScanner}}
	s := openScanner(t, Config{Match: usMatch(kbdScanner), Mode: ModeKeyboard, Layout: mustLayout(t, fx.Layout)}, bus)
	replay(t, s, bus.last(t), fx.Reports)
	st := s.Status()
	if st.Dropped != 2 || !strings.Contains(st.LastError, "lost: ") {
		t.Errorf("status %+v", st)
	}
	// The drop was reported before the unplug replaced LastError.
	bus2 := &fakeBus{list: []device.HIDDevice{posScanner}}
	s2 := openScanner(t, Config{Match: usMatch(posScanner), Mode: ModePOS}, bus2)
	dev := bus2.last(t)
	dev.feed([]byte{0x02, 0xff}) // length beyond the report
	dev.feed(nil)                // the read after it: the status is updated
	if st := s2.Status(); st.Dropped != 1 || !strings.Contains(st.LastError, "1 malformed") {
		t.Errorf("status %+v", st)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		bus  *fakeBus
		c    Config
		want string
	}{
		{"absent", &fakeBus{list: []device.HIDDevice{posScanner}}, Config{Match: usMatch(kbdScanner)},
			"no USB HID device 0c2e:0b61:K1: is the scanner plugged in? (tillbox devices lists them)"},
		{"other serial", &fakeBus{list: []device.HIDDevice{kbdScanner}}, Config{Match: device.Match{VID: 0x0c2e, PID: 0x0b61, Serial: "K2"}},
			"no USB HID device 0c2e:0b61:K2"},
		{"listing fails", &fakeBus{listErr: errors.New("libusb: no memory")}, Config{Match: usMatch(kbdScanner)}, "libusb: no memory"},
		{"open fails", &fakeBus{list: []device.HIDDevice{kbdScanner}, openErr: errors.New("hidapi: failed to open device")},
			Config{Match: usMatch(kbdScanner)}, "hidapi: failed to open device"},
		{"bad mode", &fakeBus{}, Config{Match: usMatch(kbdScanner), Mode: "serial"}, `mode "serial" is not auto, keyboard or hidpos`},
		{"no match", &fakeBus{}, Config{}, "no device path or USB identity"},
		{"not usbfs", &fakeBus{list: []device.HIDDevice{kbdScanner}}, Config{Match: device.Match{Path: "/dev/bus/usb/x"}},
			"is not a USB device node /dev/bus/usb/BBB/DDD"},
		{"dangling link", &fakeBus{list: []device.HIDDevice{kbdScanner}}, Config{Match: device.Match{Path: filepath.Join(t.TempDir(), "scanner")}},
			"is the scanner plugged in?"},
		{"node absent", &fakeBus{list: []device.HIDDevice{kbdScanner}}, Config{Match: device.Match{Path: "/dev/bus/usb/001/009"}},
			"no USB HID interface at /dev/bus/usb/001/009"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Name = "front"
			tc.c.Enumerate, tc.c.OpenDevice = tc.bus.enumerate, tc.bus.open
			s, err := Open(tc.c)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %q, want %q", err, tc.want)
			}
		})
	}
}

// TestFind: the interface for the mode among those of the matching
// devices, by identity or by usbfs node.
func TestFind(t *testing.T) {
	kbdIntf := device.HIDDevice{VID: 0x05e0, PID: 0x1200, SerialNumber: "S1", UsagePage: 1, Usage: 6, Interface: 0, Path: "0001:0007:00"}
	posIntf := device.HIDDevice{VID: 0x05e0, PID: 0x1200, SerialNumber: "S1", UsagePage: device.UsagePagePOS, Usage: 2, Interface: 1, Path: "0001:0007:01"}
	mouse := device.HIDDevice{VID: 0x05e0, PID: 0x1200, SerialNumber: "S1", UsagePage: 1, Usage: 2, Interface: 2, Path: "0001:0007:02"}
	twin := device.HIDDevice{VID: 0x05e0, PID: 0x1200, SerialNumber: "S2", UsagePage: 1, Usage: 6, Interface: 0, Path: "0001:0008:00"}
	linuxA := device.HIDDevice{VID: 0x05e0, PID: 0x1300, Interface: 1, Path: "0003:0002:01"}
	linuxB := device.HIDDevice{VID: 0x05e0, PID: 0x1300, Interface: 0, Path: "0003:0002:00"}
	list := []device.HIDDevice{mouse, posIntf, kbdIntf, twin, linuxA, linuxB}
	for _, tc := range []struct {
		match, mode string
		want        string
		others      int
	}{
		{"05e0:1200:S1", ModeAuto, posIntf.Path, 0},
		{"05e0:1200:S1", ModePOS, posIntf.Path, 0},
		{"05e0:1200:S1", ModeKeyboard, kbdIntf.Path, 0},
		{"05e0:1200:S2", ModeAuto, twin.Path, 0},
		{"05e0:1200", ModeKeyboard, kbdIntf.Path, 1},
		{"05e0:1300", ModeAuto, linuxB.Path, 0}, // usage unknown: the first interface
		{"/dev/bus/usb/001/008", ModeAuto, twin.Path, 0},
		{"/dev/bus/usb/003/002", ModePOS, linuxB.Path, 0},
	} {
		m, err := device.ParseMatch(tc.match)
		if err != nil {
			t.Fatal(err)
		}
		got, others, err := find(m, tc.mode, list)
		if err != nil || got.Path != tc.want || others != tc.others {
			t.Errorf("find(%s, %s) = %s, %d others, %v; want %s, %d", tc.match, tc.mode, got.Path, others, err, tc.want, tc.others)
		}
	}
}

// TestEnumerateFilter: a USB identity is looked up with the identity, so
// that enumeration opens no other device; a usbfs node needs them all.
func TestEnumerateFilter(t *testing.T) {
	bus := &fakeBus{list: []device.HIDDevice{kbdScanner}}
	openScanner(t, Config{Match: usMatch(kbdScanner)}, bus)
	openScanner(t, Config{Name: "node", Match: device.Match{Path: "/dev/bus/usb/001/004"}}, bus)
	if want := [][2]uint16{{0x0c2e, 0x0b61}, {0, 0}}; !slices.Equal(bus.asked, want) {
		t.Errorf("enumerated %v, want %v", bus.asked, want)
	}
	if want := []string{"0001:0004:00", "0001:0004:00"}; !slices.Equal(bus.paths, want) {
		t.Errorf("opened %v", bus.paths)
	}
}

func TestFromSpec(t *testing.T) {
	c, err := FromSpec(device.Spec{Name: "kbd", Driver: "hid", Match: device.Match{VID: 0x0c2e, PID: 0x0b61, Serial: "AB"}, Mode: "keyboard", Layout: "sv-fi", Prefix: "]", Suffix: "#"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "kbd" || c.Match.Serial != "AB" || c.Mode != ModeKeyboard || c.Layout.Name() != "sv-fi" || c.Affixes.Prefix != "]" || c.Affixes.Suffix != "#" {
		t.Errorf("config %+v", c)
	}
	if _, err := FromSpec(device.Spec{Name: "x", Driver: "serial", Match: device.Match{Path: "/dev/ttyACM0"}}); err == nil {
		t.Error("a serial scanner accepted")
	}
	if _, err := FromSpec(device.Spec{Name: "x", Driver: "hid", Match: device.Match{VID: 0x0c2e, PID: 0x0b61}, Layout: "fr"}); err == nil {
		t.Error("layout fr accepted")
	}
}

func TestErrNotBuilt(t *testing.T) {
	if !errors.Is(ErrNotBuilt, errors.ErrUnsupported) {
		t.Error("ErrNotBuilt is not ErrUnsupported")
	}
	if want := "this tillbox was built without cgo: USB HID scanners cannot be read; use a build with cgo (make build)"; ErrNotBuilt.Error() != want {
		t.Errorf("%q", ErrNotBuilt)
	}
}

// TestEnumerateThisMachine runs the real enumeration (this test binary is
// built with cgo: -race needs it): it must work, and what it lists has a
// path and an identity.
func TestEnumerateThisMachine(t *testing.T) {
	if !Supported() {
		t.Fatal("karalabe/usb is the stub in this test binary: was it built without cgo?")
	}
	list, err := Enumerate(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.Path == "" || d.VID == 0 {
			t.Errorf("listed %+v", d)
		}
	}
	t.Logf("%d HID interfaces", len(list))
}
