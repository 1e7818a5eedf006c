package device

import (
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

// TestTerminatorString: a terminator writes back in the form
// ParseTerminator reads.
func TestTerminatorString(t *testing.T) {
	for _, in := range []string{"CR", "LF", "CRLF", "idle:50ms", "idle:1s"} {
		tm, err := ParseTerminator(in)
		if err != nil || tm.String() != in {
			t.Errorf("ParseTerminator(%q) = %+v, %v; String %q", in, tm, err, tm.String())
		}
	}
	if s := (Terminator{Bytes: "\x03"}).String(); s != `"\x03"` {
		t.Errorf("String of ETX = %s", s)
	}
}
