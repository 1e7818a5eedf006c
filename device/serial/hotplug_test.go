package serial

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

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
	n := 0
	for _, m := range l.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

func (l *logged) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}

// TestHotplugWakes: a scanner missing for longer than the short retries is
// looked for at the next hotplug event (the idle wait is an hour: without
// the event the test times out), and found.
func TestHotplugWakes(t *testing.T) {
	var hp uevent.Manual
	log := &logged{}
	r := &rig{t: t, link: filepath.Join(t.TempDir(), "scanner")} // not plugged in
	t.Cleanup(r.unplug)
	s := open(t, Config{Match: device.Match{Path: r.link}, Terminator: term(t, "CR"),
		MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, IdleRetry: time.Hour, Hotplug: &hp, Logger: slog.New(log)})
	waitFor(t, "the driver to wait for a hotplug event", func() bool { return log.count("scanner missing: waiting for a hotplug event") == 1 })
	if st := s.Status(); st.Connected || st.LastError == "" {
		t.Errorf("status of a missing scanner: %+v", st)
	}
	r.plug()
	hp.Plug()
	waitFor(t, "the scanner found", func() bool { return s.Status().Connected })
	r.write(tokenised + "\r")
	if sc := next(t, s); string(sc.Data) != tokenised {
		t.Fatalf("got %q", sc.Data)
	}
	if log.count("scanner found after a hotplug event") != 1 {
		t.Errorf("log %q does not say the hotplug event found the scanner", log.all())
	}
}

// TestNoHotplugRetries: with IdleRetry negative the port is looked for
// every MaxBackoff, forever (a pty, which has no uevents).
func TestNoHotplugRetries(t *testing.T) {
	var hp uevent.Manual // never fires
	log := &logged{}
	r := &rig{t: t, link: filepath.Join(t.TempDir(), "scanner")}
	t.Cleanup(r.unplug)
	s := open(t, Config{Match: device.Match{Path: r.link}, Terminator: term(t, "CR"),
		MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, IdleRetry: -1, Hotplug: &hp, Logger: slog.New(log)})
	waitFor(t, "several retries at MaxBackoff", func() bool { return log.count("scanner not opened") > 10 })
	r.plug()
	waitFor(t, "the scanner found", func() bool { return s.Status().Connected })
	if n := log.count("scanner missing: waiting for a hotplug event"); n != 0 {
		t.Errorf("waited for a hotplug event %d times with IdleRetry negative", n)
	}
}
