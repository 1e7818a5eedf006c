package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseMatch(t *testing.T) {
	ok := map[string]Match{
		"0c2e:0b61":             {VID: 0x0c2e, PID: 0x0b61},
		"0C2E:0B61":             {VID: 0x0c2e, PID: 0x0b61},
		"05e0:1200:S/N 1":       {},
		"05e0:1200:21305B2A0C8": {VID: 0x05e0, PID: 0x1200, Serial: "21305B2A0C8"},
		"05e0:1200:a:b":         {VID: 0x05e0, PID: 0x1200, Serial: "a:b"},
		"/dev/ttyACM0":          {Path: "/dev/ttyACM0"},
		"/dev/serial/by-id/usb-Honeywell_Imaging-if00": {Path: "/dev/serial/by-id/usb-Honeywell_Imaging-if00"},
	}
	for in, want := range ok {
		m, err := ParseMatch(in)
		if in == "05e0:1200:S/N 1" {
			if err == nil {
				t.Errorf("ParseMatch(%q) accepted a serial with a space", in)
			}
			continue
		}
		if err != nil || m != want {
			t.Errorf("ParseMatch(%q) = %+v, %v; want %+v", in, m, err, want)
		}
		if back, err := ParseMatch(m.String()); err != nil || back != m {
			t.Errorf("%q: String %q does not parse back", in, m)
		}
	}
	for _, in := range []string{"", "0c2e", "c2e:b61", "0c2e:0b61:", "0000:0001", "ttyACM0", "0c2e-0b61", "/dev/tty ACM0", "zzzz:0b61"} {
		if m, err := ParseMatch(in); err == nil {
			t.Errorf("ParseMatch(%q) = %+v, want an error", in, m)
		}
	}
}

func TestParseTerminator(t *testing.T) {
	ok := map[string]Terminator{
		"CR": {Bytes: "\r"}, "lf": {Bytes: "\n"}, "CRLF": {Bytes: "\r\n"},
		"idle:50ms": {Idle: 50 * time.Millisecond}, "IDLE:1s": {Idle: time.Second},
	}
	for in, want := range ok {
		if got, err := ParseTerminator(in); err != nil || got != want {
			t.Errorf("ParseTerminator(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "TAB", "idle:", "idle:1ms", "idle:3s", "idle:soon", "\r"} {
		if got, err := ParseTerminator(in); err == nil {
			t.Errorf("ParseTerminator(%q) = %+v, want an error", in, got)
		}
	}
}

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
