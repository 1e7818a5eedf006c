package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/hid"
	"github.com/tillbox/tillbox/device/serial"
)

func TestScannerRules(t *testing.T) {
	cases := []struct {
		entry, field, reason string
	}{
		{`match = "0c2e:0b61"`, "driver", "missing"},
		{`driver = "usb"` + "\nmatch = \"0c2e:0b61\"", "driver", `"usb" is not "serial" or "hid"`},
		{`driver = "serial"`, "match", "tillbox devices"},
		{`driver = "serial"` + "\nmatch = \"ttyACM0\"", "match", "VID:PID"},
		{`driver = "serial"` + "\nmatch = \"/dev/ttyACM0\"\nbaud = 9601", "baud", "standard baud rate"},
		{`driver = "serial"` + "\nmatch = \"/dev/ttyACM0\"\nterminator = \"ETX\"", "terminator", "not CR, LF, CRLF"},
		{`driver = "serial"` + "\nmatch = \"/dev/ttyACM0\"\nmode = \"keyboard\"", "mode", "HID scanners only"},
		{`driver = "serial"` + "\nmatch = \"/dev/ttyACM0\"\nlayout = \"no\"", "layout", "HID scanners only"},
		{`driver = "hid"` + "\nmatch = \"05e0:1200\"\nbaud = 9600", "baud", "serial scanners only"},
		{`driver = "hid"` + "\nmatch = \"05e0:1200\"\nterminator = \"CR\"", "terminator", "serial scanners only"},
		{`driver = "hid"` + "\nmatch = \"05e0:1200\"\nmode = \"pos\"", "mode", "auto, keyboard, hidpos"},
		{`driver = "hid"` + "\nmatch = \"05e0:1200\"\nlayout = \"fr\"", "layout", "us, no, da, sv-fi, de"},
		{`driver = "hid"` + "\nmatch = \"05e0:1200\"\nmode = \"hidpos\"\nlayout = \"no\"", "layout", "keyboard mode only"},
		{`driver = "hid"` + "\nmatch = \"05e0:1200\"\nname = \"the counter\"", "name", "letters, digits"},
		{`driver = "hid"` + "\nmatch = \"05e0:1200\"\nprefix = \"" + strings.Repeat("x", 33) + `"`, "prefix", "at most 32"},
	}
	for _, tc := range cases {
		t.Run(tc.field+"/"+tc.reason, func(t *testing.T) {
			text := minimal().String() + "[[scanner]]\n" + tc.entry + "\n"
			ps := problemsOf(t, text)
			p := find(t, ps, "scanner[1]."+tc.field)
			if !strings.Contains(p.Reason, tc.reason) {
				t.Errorf("got %q, want %q", p.Reason, tc.reason)
			}
			if len(ps) != 1 {
				t.Errorf("%d problems: %v", len(ps), ps)
			}
		})
	}

	// Two entries for one device, or with one name.
	text := minimal().String() + "[[scanner]]\ndriver = \"hid\"\nmatch = \"05e0:1200\"\nname = \"a\"\n" +
		"[[scanner]]\ndriver = \"hid\"\nmatch = \"05E0:1200\"\nname = \"a\"\n"
	ps := problemsOf(t, text)
	if p := find(t, ps, "scanner[2].match"); !strings.Contains(p.Reason, "also matches scanner[1]") || p.Line != 17 {
		t.Errorf("%s", p)
	}
	if p := find(t, ps, "scanner[2].name"); !strings.Contains(p.Reason, "also the name of scanner[1]") {
		t.Errorf("%s", p)
	}

	// The HID interface and the serial port of one device are two scanners.
	c := mustParse(t, minimal().String()+"[[scanner]]\ndriver = \"hid\"\nmatch = \"1d6b:0104:HIL0001\"\n"+
		"[[scanner]]\ndriver = \"serial\"\nmatch = \"1d6b:0104:HIL0001\"\n")
	if len(c.Scanners) != 2 {
		t.Errorf("scanners %+v", c.Scanners)
	}
}

func TestScannerDefaults(t *testing.T) {
	text := minimal().String() +
		"[[scanner]]\ndriver = \"serial\"\nmatch = \"/dev/ttyACM0\"\n" +
		"[[scanner]]\ndriver = \"hid\"\nmatch = \"05e0:1200\"\n" +
		"[[scanner]]\ndriver = \"hid\"\nmatch = \"05e0:1201\"\nmode = \"hidpos\"\n"
	c := mustParse(t, text)
	s, h, p := c.Scanners[0], c.Scanners[1], c.Scanners[2]
	if s.Name != "scanner1" || s.Baud != DefaultBaud || s.Terminator != "CR" || s.Mode != "" || s.Layout != "" {
		t.Errorf("serial defaults: %+v", s)
	}
	if h.Name != "scanner2" || h.Mode != "auto" || h.Layout != "us" || h.Baud != 0 || h.Terminator != "" {
		t.Errorf("hid defaults: %+v", h)
	}
	if p.Layout != "" {
		t.Errorf("hidpos got a layout: %+v", p)
	}
	// The defaults filled in still validate.
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseScanner(t *testing.T) {
	s, err := ParseScanner("serial:/dev/ttyACM0,baud=115200,terminator=CRLF,name=front,prefix=]Q,suffix=x")
	if err != nil || s != (Scanner{Name: "front", Driver: "serial", Match: "/dev/ttyACM0", Baud: 115200, Terminator: "CRLF", Prefix: "]Q", Suffix: "x"}) {
		t.Errorf("ParseScanner = %+v, %v", s, err)
	}
	s, err = ParseScanner("hid:0c2e:0b61:SN1,mode=keyboard,layout=no")
	if err != nil || s != (Scanner{Driver: "hid", Match: "0c2e:0b61:SN1", Mode: "keyboard", Layout: "no"}) {
		t.Errorf("ParseScanner = %+v, %v", s, err)
	}
	for _, in := range []string{"", "serial", "serial:", ":x", "serial:/dev/x,baud", "serial:/dev/x,baud=fast", "serial:/dev/x,colour=red"} {
		if s, err := ParseScanner(in); err == nil {
			t.Errorf("ParseScanner(%q) = %+v, want an error", in, s)
		}
	}
}

// TestSpecs: what the drivers get of the [[scanner]] entries, and that they
// take it.
func TestSpecs(t *testing.T) {
	c := mustParse(t, minimal().String()+
		"[[scanner]]\nname = \"a\"\ndriver = \"serial\"\nmatch = \"0C2E:0b61:X1\"\nbaud = 115200\nterminator = \"crlf\"\nprefix = \"<\"\nsuffix = \">\"\n"+
		"[[scanner]]\ndriver = \"serial\"\nmatch = \"/dev/ttyACM0\"\n"+
		"[[scanner]]\nname = \"kbd\"\ndriver = \"hid\"\nmatch = \"0c2e:0b61:AB\"\nmode = \"keyboard\"\nlayout = \"sv-fi\"\n")
	specs, err := Specs(c.Scanners)
	if err != nil {
		t.Fatal(err)
	}
	want := []device.Spec{
		{Name: "a", Driver: "serial", Match: device.Match{VID: 0x0c2e, PID: 0x0b61, Serial: "X1"}, Baud: 115200, Terminator: device.Terminator{Bytes: "\r\n"}, Prefix: "<", Suffix: ">"},
		{Name: "scanner2", Driver: "serial", Match: device.Match{Path: "/dev/ttyACM0"}, Baud: DefaultBaud, Terminator: device.Terminator{Bytes: "\r"}},
		{Name: "kbd", Driver: "hid", Match: device.Match{VID: 0x0c2e, PID: 0x0b61, Serial: "AB"}, Mode: "keyboard", Layout: "sv-fi"},
	}
	if !slices.Equal(specs, want) {
		t.Errorf("Specs = %+v\nwant %+v", specs, want)
	}
	// The drivers take them.
	if sc, err := serial.FromSpec(specs[0]); err != nil || sc.Baud != 115200 || sc.Terminator.Bytes != "\r\n" {
		t.Errorf("serial.FromSpec = %+v, %v", sc, err)
	}
	if hc, err := hid.FromSpec(specs[2]); err != nil || hc.Layout.Name() != "sv-fi" || hc.Mode != hid.ModeKeyboard {
		t.Errorf("hid.FromSpec = %+v, %v", hc, err)
	}
	// An entry Validate would refuse is an error naming its scanner.
	for _, tc := range []struct {
		s    Scanner
		want string
	}{
		{Scanner{Name: "d", Driver: "serial", Match: "nonsense"}, `scanner "d": "nonsense" is not VID:PID`},
		{Scanner{Name: "e", Driver: "serial", Match: "/dev/ttyACM0", Terminator: "ETX"}, `scanner "e": "ETX" is not CR, LF, CRLF`},
		{Scanner{Driver: "hid", Match: "zz:1"}, `scanner "scanner1"`},
	} {
		if _, err := Specs([]Scanner{tc.s}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Specs(%+v) = %v, want %q", tc.s, err, tc.want)
		}
	}
}
