package fleet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	ossignal "os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// The box as a process of its own, for kill -9: the test binary run with
// boxEnv set logs events into the store until it holds boxEnvEvents of
// them, with the link shipping meanwhile, and runs until killed.
const (
	boxEnv       = "TILLBOX_FLEET_TEST_BOX" // the store's path
	boxEnvEvents = "TILLBOX_FLEET_TEST_EVENTS"
	boxEnvServer = "TILLBOX_FLEET_TEST_SERVER"
	boxEnvUser   = "TILLBOX_FLEET_TEST_USER"
	boxEnvPass   = "TILLBOX_FLEET_TEST_PASSWORD"
	boxEnvCA     = "TILLBOX_FLEET_TEST_CA"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(boxEnv); path != "" {
		if err := childBox(path); err != nil {
			fmt.Fprintln(os.Stderr, "box:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childBox is the box process.
func childBox(path string) error {
	n, err := strconv.Atoi(os.Getenv(boxEnvEvents))
	if err != nil {
		return err
	}
	db, err := store.Open(path, store.Options{HoldUnshipped: true, Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	b := &box{db: db, path: path, changed: newSignal()}
	l, err := New(db, Options{Till: tillA, Servers: []string{os.Getenv(boxEnvServer)}, User: os.Getenv(boxEnvUser),
		Password: epayment.Secret(os.Getenv(boxEnvPass)), CAFile: os.Getenv(boxEnvCA), Changed: b.changed.wait,
		RetryMin: 50 * time.Millisecond, RetryMax: time.Second})
	if err != nil {
		return err
	}
	ctx, stop := ossignal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	for {
		var last uint64
		if err := db.View(func(tx *store.Tx) error { last = tx.LastSeq(); return nil }); err != nil {
			return err
		}
		if last >= uint64(n) {
			break
		}
		if err := b.append(time.Time{}); err != nil {
			return err
		}
	}
	return <-done
}

// startBox starts the box process over the store at path.
func startBox(t *testing.T, s *natstest.Server, path string, events int) *exec.Cmd {
	t.Helper()
	c := s.Box(tillA)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), boxEnv+"="+path, boxEnvEvents+"="+strconv.Itoa(events), boxEnvServer+"="+s.URL(),
		boxEnvUser+"="+c.User, boxEnvPass+"="+c.Password, boxEnvCA+"="+s.CAFile())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// TestKilledMidPublish: the box is killed with SIGKILL while it ships
// (and while it logs), again and again; each time it starts again over
// its store, reads what headquarters holds and resumes. Headquarters ends
// with every event once, in order.
func TestKilledMidPublish(t *testing.T) {
	s := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{tillA}})
	js := hq(t, s)
	hqStreams(t, js, time.Minute)
	j := watchJournal(t, js, tillA)
	path := filepath.Join(t.TempDir(), "tillbox.db")
	const events = 400
	for _, at := range []int{20, 90, 170, 260} {
		cmd := startBox(t, s, path, events)
		j.waitCount(t, at)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if n := j.count(); n >= events {
			t.Fatalf("the box shipped every event (%d) before it was killed: raise events", n)
		}
		t.Logf("killed at %d events at headquarters", j.count())
	}
	cmd := startBox(t, s, path, events)
	j.waitCount(t, events)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the box's last run: %v", err)
	}
	b := newBox(t, path, store.Options{})
	j.check(t, tillA, b.raw(t))
	// The mark may lag what headquarters holds (the last acknowledgement
	// may not have arrived before the stop), never lead it; the next run
	// sets it from headquarters.
	if got := b.shipped(t); got > events {
		t.Errorf("shipped mark %d, past the %d events", got, events)
	}
	r := b.run(t, boxOptions(s, tillA))
	r.until(t, "resumed", func(s Status) bool { return s.Shipped == events && s.AtHQ == events })
	r.stop()
	if got := b.shipped(t); got != events {
		t.Errorf("shipped mark %d after a resume, want %d", got, events)
	}
}
