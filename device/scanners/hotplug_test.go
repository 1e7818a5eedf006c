package scanners

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/uevent"
)

// logged records the messages logged through it.
type logged struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logged) Enabled(context.Context, slog.Level) bool { return true }
func (l *logged) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logged) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logged) WithGroup(string) slog.Handler      { return l }

func (l *logged) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(slices.DeleteFunc(slices.Clone(l.msgs), func(m string) bool { return m != msg }))
}

// TestHotplugReopens: a scanner that keeps failing to open is, after the
// short retries, opened again at a hotplug event (the idle wait is an
// hour: without the event the test times out), and the log says so.
func TestHotplugReopens(t *testing.T) {
	f := newFakes()
	f.fail["front"] = 1 << 30 // unplugged
	var hp uevent.Manual
	log := &logged{}
	m, err := Open([]device.Spec{{Name: "front", Driver: "fake", Match: device.Match{VID: 0x1d6b, PID: 0x0104}}}, Options{
		Drivers: map[string]Opener{"fake": f.open}, Logger: slog.New(log),
		RestartBackoff: time.Millisecond, MaxRestartBackoff: 4 * time.Millisecond, IdleRetry: time.Hour, Hotplug: &hp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	agenttest.Until(t, "the manager to wait for a hotplug event", func() bool { return log.count("scanner missing: waiting for a hotplug event") == 1 })
	if st := m.Statuses()[0]; st.Connected || st.LastError != "1d6b:0104: no such device" {
		t.Errorf("status of a missing scanner: %+v", st)
	}
	f.mu.Lock()
	f.fail["front"] = 0 // plugged in
	f.mu.Unlock()
	hp.Plug()
	sc := f.latest(t, "front", 1)
	sc.Send("again")
	if s := next(t, m); string(s.Data) != "again" {
		t.Fatalf("got %q", s.Data)
	}
	if log.count("scanner found after a hotplug event") != 1 {
		t.Error("the log does not say the hotplug event found the scanner")
	}
}
