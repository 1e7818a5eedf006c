package scanners

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/devicetest"
	"github.com/tillbox/tillbox/device/hid"
	xterm "golang.org/x/term"
)

// fakes is a driver of devicetest scanners that remembers what it opened.
type fakes struct {
	mu     sync.Mutex
	opened map[string][]*devicetest.Scanner
	fail   map[string]int // fail the next N opens of a name
}

func newFakes() *fakes {
	return &fakes{opened: map[string][]*devicetest.Scanner{}, fail: map[string]int{}}
}

func (f *fakes) open(c device.Spec, _ *slog.Logger) (device.Scanner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[c.Name] > 0 {
		f.fail[c.Name]--
		return nil, fmt.Errorf("%s: no such device", c.Match)
	}
	s := devicetest.New(c.Name)
	f.opened[c.Name] = append(f.opened[c.Name], s)
	return s, nil
}

// latest waits until name has been opened n times and returns the last.
func (f *fakes) latest(t *testing.T, name string, n int) *devicetest.Scanner {
	t.Helper()
	var s *devicetest.Scanner
	agenttest.Until(t, fmt.Sprintf("%s opened %d times", name, n), func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.opened[name]) >= n {
			s = f.opened[name][len(f.opened[name])-1]
		}
		return len(f.opened[name]) == n
	})
	return s
}

func next(t testing.TB, m *Manager) device.Scan {
	t.Helper()
	select {
	case s, ok := <-m.Scans():
		if !ok {
			t.Fatal("Scans closed")
		}
		return s
	case <-time.After(5 * time.Second):
		t.Fatalf("no scan; statuses %+v", m.Statuses())
	}
	panic("unreachable")
}

func openManager(t *testing.T, cfgs []device.Spec, f *fakes) *Manager {
	t.Helper()
	drivers := DefaultDrivers()
	if f != nil {
		drivers["fake"] = f.open
	}
	m, err := Open(cfgs, Options{Drivers: drivers, RestartBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestFanIn(t *testing.T) {
	f := newFakes()
	m := openManager(t, []device.Spec{{Name: "front", Driver: "fake", Match: device.Match{Path: "/dev/a"}}, {Name: "hand", Driver: "fake", Match: device.Match{Path: "/dev/b"}}}, f)
	front, hand := f.latest(t, "front", 1), f.latest(t, "hand", 1)
	go front.Send("code-a")
	if s := next(t, m); s.Source != "front" || string(s.Data) != "code-a" {
		t.Fatalf("got %q from %q", s.Data, s.Source)
	}
	go hand.Send("code-b")
	if s := next(t, m); s.Source != "hand" || string(s.Data) != "code-b" {
		t.Fatalf("got %q from %q", s.Data, s.Source)
	}
	st := m.Statuses()
	if len(st) != 2 || st[0].Name != "front" || st[1].Name != "hand" || !st[0].Connected || st[0].Scans != 1 {
		t.Fatalf("statuses %+v", st)
	}
}

func TestRestartStoppedDriver(t *testing.T) {
	f := newFakes()
	m := openManager(t, []device.Spec{{Name: "front", Driver: "fake", Match: device.Match{Path: "/dev/a"}}}, f)
	first := f.latest(t, "front", 1)
	first.Close() // the driver gives up by itself
	second := f.latest(t, "front", 2)
	go second.Send("after restart")
	if s := next(t, m); string(s.Data) != "after restart" {
		t.Fatalf("got %q", s.Data)
	}
	agenttest.Until(t, "the restart counted", func() bool { return m.Statuses()[0].Reconnects == 1 })
}

func TestRetryFailedOpen(t *testing.T) {
	f := newFakes()
	f.fail["front"] = 3
	m := openManager(t, []device.Spec{{Name: "front", Driver: "fake", Match: device.Match{Path: "/dev/a"}}}, f)
	s := f.latest(t, "front", 1)
	agenttest.Until(t, "connected", func() bool { return m.Statuses()[0].Connected })
	go s.Send("x")
	next(t, m)
}

func TestFailedOpenStatus(t *testing.T) {
	f := newFakes()
	f.fail["front"] = 1 << 30
	m, err := Open([]device.Spec{{Name: "front", Driver: "fake", Match: device.Match{Path: "/dev/a"}, Baud: 9600, Terminator: device.Terminator{Bytes: "\r"}}},
		Options{Drivers: map[string]Opener{"fake": f.open}, RestartBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	agenttest.Until(t, "the error", func() bool { return m.Statuses()[0].LastError != "" })
	st := m.Statuses()[0]
	if st.Connected || st.LastError != "/dev/a: no such device" || st.Match != "/dev/a" || st.Driver != "fake" {
		t.Fatalf("status %+v", st)
	}
}

// TestHIDNotBuilt: in a build without cgo the HID driver fails with
// hid.ErrNotBuilt; the manager shows its words and never retries. (The
// binary built without cgo is tested in cmd/tillbox.)
func TestHIDNotBuilt(t *testing.T) {
	drivers := DefaultDrivers()
	drivers[device.DriverHID] = func(device.Spec, *slog.Logger) (device.Scanner, error) { return nil, noDriver{hid.ErrNotBuilt} }
	m, err := Open([]device.Spec{{Name: "kbd", Driver: "hid", Match: device.Match{VID: 0x0c2e, PID: 0x0b61}, Mode: "keyboard", Layout: "no"}},
		Options{Drivers: drivers, RestartBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	agenttest.Until(t, "the error", func() bool { return m.Statuses()[0].LastError != "" })
	st := m.Statuses()[0]
	if st.LastError != hid.ErrNotBuilt.Error() || st.Mode != "keyboard, no" || st.Connected {
		t.Fatalf("status %+v", st)
	}
	if !errors.Is(noDriver{hid.ErrNotBuilt}, ErrNoDriver) || !errors.Is(noDriver{hid.ErrNotBuilt}, hid.ErrNotBuilt) {
		t.Error("the error is not ErrNoDriver and ErrNotBuilt")
	}
	time.Sleep(30 * time.Millisecond) // six restart backoffs
	if again := m.Statuses()[0]; again.Reconnects != 0 || !again.LastErrorAt.Equal(st.LastErrorAt) {
		t.Fatalf("unsupported driver retried: %+v", again)
	}
}

// TestHIDAbsent: with cgo (this test binary has it), the HID driver looks
// for the device with the real enumeration and says it is not there.
func TestHIDAbsent(t *testing.T) {
	m := openManager(t, []device.Spec{{Name: "kbd", Driver: "hid", Match: device.Match{VID: 0xffff, PID: 0xfffe, Serial: "NOPE"}, Mode: "auto", Layout: "us"}}, nil)
	agenttest.Until(t, "the error", func() bool { return m.Statuses()[0].LastError != "" })
	st := m.Statuses()[0]
	if !strings.Contains(st.LastError, "no USB HID device ffff:fffe:NOPE: is the scanner plugged in?") || st.Driver != "hid" || st.Match != "ffff:fffe:NOPE" {
		t.Fatalf("status %+v", st)
	}
}

func TestUnknownDriver(t *testing.T) {
	_, err := Open([]device.Spec{{Name: "x", Driver: "bluetooth", Match: device.Match{Path: "/dev/x"}}}, Options{})
	if err == nil || !strings.Contains(err.Error(), `no driver "bluetooth"`) {
		t.Fatalf("err %v", err)
	}
}

func TestClose(t *testing.T) {
	f := newFakes()
	m, err := Open([]device.Spec{{Name: "front", Driver: "fake", Match: device.Match{Path: "/dev/a"}}}, Options{Drivers: map[string]Opener{"fake": f.open}})
	if err != nil {
		t.Fatal(err)
	}
	s := f.latest(t, "front", 1)
	sent := make(chan bool)
	go func() { sent <- s.Send("never read") }() // blocks: nobody reads m.Scans
	time.Sleep(10 * time.Millisecond)
	done := make(chan struct{})
	go func() { m.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close blocked")
	}
	<-sent
	if _, ok := <-m.Scans(); ok {
		t.Error("Scans open after Close")
	}
	if s.Status().Connected {
		t.Error("the driver was not closed")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestSerialEndToEnd runs the real serial driver through the manager over a
// pty, with an unplug and a replug.
func TestSerialEndToEnd(t *testing.T) {
	link := filepath.Join(t.TempDir(), "scanner")
	plug := func() (*os.File, *os.File) {
		master, tty, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := xterm.MakeRaw(int(tty.Fd())); err != nil {
			t.Fatal(err)
		}
		os.Remove(link)
		if err := os.Symlink(tty.Name(), link); err != nil {
			t.Fatal(err)
		}
		return master, tty
	}
	master, tty := plug()
	m := openManager(t, []device.Spec{{Name: "front", Driver: "serial", Match: device.Match{Path: link}, Baud: 9600, Terminator: device.Terminator{Bytes: "\r\n"}}}, nil)
	agenttest.Until(t, "connected", func() bool { return m.Statuses()[0].Connected })
	master.Write([]byte("https://qr.vipps.no/p/AbCdEf\r\n"))
	if s := next(t, m); string(s.Data) != "https://qr.vipps.no/p/AbCdEf" || s.Source != "front" {
		t.Fatalf("got %q from %q", s.Data, s.Source)
	}
	master.Close()
	tty.Close()
	agenttest.Until(t, "the unplug", func() bool { return !m.Statuses()[0].Connected })
	master, tty = plug()
	defer master.Close()
	defer tty.Close()
	agenttest.Until(t, "the replug", func() bool { return m.Statuses()[0].Connected })
	master.Write([]byte("again\r\n"))
	if s := next(t, m); string(s.Data) != "again" {
		t.Fatalf("got %q", s.Data)
	}
	if st := m.Statuses()[0]; st.Reconnects != 1 || st.Mode != "9600 baud, CRLF" {
		t.Errorf("status %+v", st)
	}
}
