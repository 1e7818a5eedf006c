package serial

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/frame"
)

const (
	vippsClear = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"
	tokenised  = "https://qr.vipps.no/p/Zx9-_.~AbC123%2B"
)

func open(t testing.TB, c Config) *Scanner {
	t.Helper()
	if c.Name == "" {
		c.Name = "front"
	}
	if c.MinBackoff == 0 {
		c.MinBackoff, c.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	}
	s, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func connected(t testing.TB, s *Scanner) {
	t.Helper()
	waitFor(t, "the scanner to connect", func() bool { return s.Status().Connected })
}

func term(t testing.TB, s string) device.Terminator {
	t.Helper()
	tm, err := device.ParseTerminator(s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestTerminators(t *testing.T) {
	for _, tc := range []struct{ term, end string }{
		{"CR", "\r"}, {"LF", "\n"}, {"CRLF", "\r\n"}, {"idle:20ms", ""},
	} {
		t.Run(tc.term, func(t *testing.T) {
			r := newRig(t)
			s := open(t, Config{Match: device.Match{Path: r.link}, Baud: 115200, Terminator: term(t, tc.term)})
			connected(t, s)
			for _, code := range []string{vippsClear, tokenised, "7038010055512"} {
				before := time.Now()
				r.write(code + tc.end)
				sc := next(t, s)
				if string(sc.Data) != code || sc.Source != "front" {
					t.Fatalf("got %q from %q, want %q", sc.Data, sc.Source, code)
				}
				if sc.At.Before(before) || time.Since(sc.At) > 5*time.Second {
					t.Errorf("scan time %v, written at %v", sc.At, before)
				}
				if tc.end == "" {
					time.Sleep(30 * time.Millisecond) // the gap between scans
				}
			}
		})
	}
}

func TestSplitWrites(t *testing.T) {
	r := newRig(t)
	s := open(t, Config{Match: device.Match{Path: r.link}, Terminator: term(t, "CRLF")})
	connected(t, s)
	// One byte at a time, the terminator split too, as a slow UART delivers.
	for _, c := range []byte(vippsClear + "\r\n") {
		r.write(string(c))
		time.Sleep(100 * time.Microsecond)
	}
	if sc := next(t, s); string(sc.Data) != vippsClear {
		t.Fatalf("got %q", sc.Data)
	}
	// Split in the middle of the terminator with a long pause.
	r.write(tokenised + "\r")
	none(t, s, 50*time.Millisecond)
	r.write("\n")
	if sc := next(t, s); string(sc.Data) != tokenised {
		t.Fatalf("got %q", sc.Data)
	}
}

func TestJoinedWrites(t *testing.T) {
	r := newRig(t)
	s := open(t, Config{Match: device.Match{Path: r.link}, Terminator: term(t, "CR")})
	connected(t, s)
	r.write(vippsClear + "\r" + tokenised + "\r" + "7038010055512\r" + "half")
	for _, want := range []string{vippsClear, tokenised, "7038010055512"} {
		if sc := next(t, s); string(sc.Data) != want {
			t.Fatalf("got %q, want %q", sc.Data, want)
		}
	}
	none(t, s, 30*time.Millisecond)
	r.write(" done\r")
	if sc := next(t, s); string(sc.Data) != "half done" {
		t.Fatalf("got %q", sc.Data)
	}
	if st := s.Status(); st.Scans != 4 {
		t.Errorf("status counts %d scans, want 4", st.Scans)
	}
}

func TestOversizeAndGarbage(t *testing.T) {
	r := newRig(t)
	s := open(t, Config{Match: device.Match{Path: r.link}, Terminator: term(t, "CR")})
	connected(t, s)
	r.write(strings.Repeat("A", 10000) + "\r" + vippsClear + "\r")
	if sc := next(t, s); string(sc.Data) != vippsClear {
		t.Fatalf("after an oversize frame got %q", sc.Data)
	}
	st := s.Status()
	if st.Dropped != 1 || !strings.Contains(st.LastError, "dropped input longer than 4096 bytes") {
		t.Errorf("status after oversize: dropped %d, last error %q", st.Dropped, st.LastError)
	}
	garbage := "\xff\xfe\x00\x80bl\xe5b\xe6r\x1b[2J"
	r.write(garbage + "\r")
	if sc := next(t, s); string(sc.Data) != garbage {
		t.Fatalf("garbage changed: %q, want %q", sc.Data, garbage)
	}
	if st := s.Status(); st.LastScan != `\xff\xfe\x00\x80bl\xe5b\xe6r\x1b[2J` {
		t.Errorf("last scan shown as %q", st.LastScan)
	}
}

func TestAffixes(t *testing.T) {
	r := newRig(t)
	s := open(t, Config{Match: device.Match{Path: r.link}, Terminator: term(t, "CR"), Affixes: frame.Affixes{Prefix: "]Q1", Suffix: "\x03"}})
	connected(t, s)
	r.write("]Q1" + vippsClear + "\x03\r")
	if sc := next(t, s); string(sc.Data) != vippsClear {
		t.Fatalf("got %q", sc.Data)
	}
}

// TestUnplugReplug closes the pty (the scanner is unplugged: reads fail with
// PortClosed) and makes a new one at the same link (plugged back in): the
// driver reads from it without a restart, twice.
func TestUnplugReplug(t *testing.T) {
	r := newRig(t)
	s := open(t, Config{Match: device.Match{Path: r.link}, Terminator: term(t, "CR")})
	connected(t, s)
	r.write("before\r")
	if sc := next(t, s); string(sc.Data) != "before" {
		t.Fatalf("got %q", sc.Data)
	}
	for i := 1; i <= 2; i++ {
		r.write("half a scan") // lost with the scanner
		time.Sleep(10 * time.Millisecond)
		r.unplug()
		waitFor(t, "the driver to notice the unplug", func() bool { return !s.Status().Connected })
		t.Logf("unplug %d: %s", i, s.Status().LastError)
		// "lost: ..." at first, then why the port does not open again.
		if st := s.Status(); !strings.HasPrefix(st.LastError, "lost: ") && !strings.Contains(st.LastError, r.link) {
			t.Errorf("last error after unplug: %q", st.LastError)
		}
		time.Sleep(20 * time.Millisecond) // a few failed attempts to reopen
		r.plug()
		connected(t, s)
		r.write(fmt.Sprintf("after %d\r", i))
		if sc := next(t, s); string(sc.Data) != fmt.Sprintf("after %d", i) {
			t.Fatalf("after replug %d got %q", i, sc.Data)
		}
		st := s.Status()
		if st.Reconnects != uint64(i) || st.Path != r.link || st.Scans != uint64(i+1) {
			t.Errorf("status after replug %d: %+v", i, st)
		}
	}
}

// fakeList stands in for the enumerator, which never lists ptys.
type fakeList struct {
	mu    sync.Mutex
	ports []device.SerialPort
}

func (f *fakeList) set(ports ...device.SerialPort) {
	f.mu.Lock()
	f.ports = ports
	f.mu.Unlock()
}

func (f *fakeList) list() ([]device.SerialPort, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ports), nil
}

// TestReplugByUSBIdentity finds the scanner by VID:PID:SERIAL: after the
// replug it is on another device node, as a real ttyACM0 may come back as
// ttyACM1, and another USB-serial device is left alone.
func TestReplugByUSBIdentity(t *testing.T) {
	r := newRig(t)
	other := newRig(t)
	ports := func(scanner string) []device.SerialPort {
		return []device.SerialPort{
			{Path: "/dev/ttyS0"},
			{Path: other.path(), USB: true, VID: 0x0403, PID: 0x6001, SerialNumber: "FT1"},
			{Path: scanner, USB: true, VID: 0x0c2e, PID: 0x0b61, SerialNumber: "A1", Product: "Voyager", Manufacturer: "Honeywell"},
		}
	}
	fl := &fakeList{}
	fl.set(ports(r.path())...)
	m, _ := device.ParseMatch("0c2e:0b61:A1")
	s := open(t, Config{Match: m, Terminator: term(t, "CR"), List: fl.list})
	connected(t, s)
	st := s.Status()
	if st.VIDPID != "0c2e:0b61" || st.SerialNumber != "A1" || st.Product != "Voyager" || st.Manufacturer != "Honeywell" || st.Path != r.path() {
		t.Errorf("status %+v", st)
	}
	r.write("one\r")
	if sc := next(t, s); string(sc.Data) != "one" {
		t.Fatalf("got %q", sc.Data)
	}
	r.unplug()
	fl.set(ports("/dev/gone")[:2]...) // unplugged: not listed
	waitFor(t, "the unplug", func() bool { return !s.Status().Connected })
	waitFor(t, "a failed attempt", func() bool { return strings.Contains(s.Status().LastError, "no serial port with USB identity") })
	old := st.Path
	r.plug()
	fl.set(ports(r.path())...)
	connected(t, s)
	if st := s.Status(); st.Path != r.path() || st.Reconnects != 1 {
		t.Errorf("after replug: %+v", st)
	}
	if r.path() == old {
		t.Logf("the new pty reused the old name %s", old)
	}
	r.write("two\r")
	other.write("not the scanner\r")
	if sc := next(t, s); string(sc.Data) != "two" {
		t.Fatalf("got %q", sc.Data)
	}
	none(t, s, 30*time.Millisecond)
}

func TestNotThereAtStart(t *testing.T) {
	r := newRig(t)
	link := r.link + "-later"
	s := open(t, Config{Match: device.Match{Path: link}, Terminator: term(t, "CR")})
	waitFor(t, "an error about the missing port", func() bool { return s.Status().LastError != "" })
	if st := s.Status(); st.Connected || !strings.Contains(st.LastError, link) {
		t.Fatalf("status %+v", st)
	}
	if err := os.Symlink(r.path(), link); err != nil {
		t.Fatal(err)
	}
	connected(t, s)
	r.write("hello\r")
	if sc := next(t, s); string(sc.Data) != "hello" {
		t.Fatalf("got %q", sc.Data)
	}
	if st := s.Status(); st.Reconnects != 0 {
		t.Errorf("a first connection counted as a reconnect: %d", st.Reconnects)
	}
}

func TestUSBIdentityAbsent(t *testing.T) {
	m, _ := device.ParseMatch("0c2e:0b61")
	s := open(t, Config{Match: m, Terminator: term(t, "CR"), List: func() ([]device.SerialPort, error) { return nil, nil }})
	waitFor(t, "an error", func() bool { return s.Status().LastError != "" })
	if st := s.Status(); !strings.Contains(st.LastError, "no serial port with USB identity 0c2e:0b61") {
		t.Errorf("last error %q", st.LastError)
	}
}

func TestClose(t *testing.T) {
	r := newRig(t)
	s, err := Open(Config{Name: "x", Match: device.Match{Path: r.link}, Terminator: term(t, "CR")})
	if err != nil {
		t.Fatal(err)
	}
	connected(t, s)
	done := make(chan error)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close blocked on a Read")
	}
	if _, ok := <-s.Scans(); ok {
		t.Error("Scans not closed")
	}
	if s.Status().Connected {
		t.Error("connected after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseWhileWaiting(t *testing.T) {
	s, err := Open(Config{Name: "x", Match: device.Match{Path: "/nonexistent/tty"}, Terminator: term(t, "CR"), MinBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt", func() bool { return s.Status().LastError != "" })
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v during a backoff", d)
	}
}

// TestCloseWithUnreadScans: a consumer that stopped reading does not keep
// Close from returning.
func TestCloseWithUnreadScans(t *testing.T) {
	r := newRig(t)
	s, err := Open(Config{Name: "x", Match: device.Match{Path: r.link}, Terminator: term(t, "CR")})
	if err != nil {
		t.Fatal(err)
	}
	connected(t, s)
	r.write(strings.Repeat("x\r", 100))
	waitFor(t, "the buffer to fill", func() bool { return len(s.Scans()) == cap(s.Scans()) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStatus(t *testing.T) {
	r := newRig(t)
	s := open(t, Config{Name: "till1", Match: device.Match{Path: r.link}, Baud: 19200, Terminator: term(t, "idle:50ms")})
	connected(t, s)
	st := s.Status()
	if st.Name != "till1" || st.Driver != "serial" || st.Match != r.link || st.Mode != "19200 baud, idle 50ms" || st.Path != r.link || st.Since.IsZero() {
		t.Errorf("status %+v", st)
	}
	r.write(vippsClear)
	next(t, s)
	st = s.Status()
	if st.Scans != 1 || st.LastScan != "https://qr.vipps.no/28/2/01/031/•••••••678?v=1" || st.LastScanAt.IsZero() {
		t.Errorf("status after a scan %+v", st)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, c := range []Config{
		{Match: device.Match{Path: "/dev/x"}, Terminator: device.Terminator{Bytes: "\r"}},
		{Name: "x", Terminator: device.Terminator{Bytes: "\r"}},
		{Name: "x", Match: device.Match{Path: "/dev/x"}},
		{Name: "x", Match: device.Match{Path: "/dev/x"}, Baud: -1, Terminator: device.Terminator{Bytes: "\r"}},
	} {
		if s, err := Open(c); err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded", c)
		}
	}
}

func TestFromSpec(t *testing.T) {
	c, err := FromSpec(device.Spec{Name: "a", Driver: "serial", Match: device.Match{VID: 0x0c2e, PID: 0x0b61, Serial: "X1"}, Baud: 115200, Terminator: term(t, "crlf"), Prefix: "<", Suffix: ">"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "a" || c.Match.VID != 0x0c2e || c.Match.Serial != "X1" || c.Baud != 115200 || c.Terminator.Bytes != "\r\n" || c.Affixes != (frame.Affixes{Prefix: "<", Suffix: ">"}) {
		t.Errorf("config %+v", c)
	}
	c, err = FromSpec(device.Spec{Name: "b", Driver: "serial", Match: device.Match{Path: "/dev/ttyACM0"}})
	if err != nil || c.Terminator.Bytes != "\r" || c.Match.Path != "/dev/ttyACM0" {
		t.Errorf("defaults: %+v %v", c, err)
	}
	if _, err := FromSpec(device.Spec{Name: "c", Driver: "hid", Match: device.Match{Path: "/dev/hidraw0"}}); err == nil {
		t.Error("a hid scanner accepted")
	}
}

func TestFind(t *testing.T) {
	list := []device.SerialPort{
		{Path: "/dev/ttyS0"},
		{Path: "/dev/ttyUSB1", USB: true, VID: 0x0403, PID: 0x6001, SerialNumber: "B"},
		{Path: "/dev/ttyUSB0", USB: true, VID: 0x0403, PID: 0x6001, SerialNumber: "A"},
		{Path: "/dev/ttyACM0", USB: true, VID: 0x0c2e, PID: 0x0b61, SerialNumber: "", Product: "Scanner"},
		{Path: "/dev/ttyACM1", VID: 0x0c2e, PID: 0x0b61}, // not USB: ignored
	}
	for _, tc := range []struct {
		match, path string
		others      int
	}{
		{"0403:6001", "/dev/ttyUSB0", 1},
		{"0403:6001:B", "/dev/ttyUSB1", 0},
		{"0C2E:0B61", "/dev/ttyACM0", 0},
		{"0403:6001:C", "", 0},
		{"1234:5678", "", 0},
		{"/dev/ttyUSB7", "/dev/ttyUSB7", 0},
	} {
		m, err := device.ParseMatch(tc.match)
		if err != nil {
			t.Fatal(err)
		}
		p, err := find(m, list)
		if tc.path == "" {
			if err == nil {
				t.Errorf("%s: found %s", tc.match, p.path)
			}
			continue
		}
		if err != nil || p.path != tc.path || p.others != tc.others {
			t.Errorf("%s: got %+v, %v; want %s", tc.match, p, err, tc.path)
		}
	}
	// A path that is a symlink to a listed port gets its USB identity.
	r := newRig(t)
	p, err := find(device.Match{Path: r.link}, []device.SerialPort{{Path: r.path(), USB: true, VID: 0x0c2e, PID: 0x0b61, SerialNumber: "S"}})
	if err != nil || p.vid != 0x0c2e || p.serial != "S" || p.path != r.link {
		t.Errorf("path match: %+v %v", p, err)
	}
}
