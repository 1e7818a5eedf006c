package bench

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// The fixtures must hold what the benchmarks claim they measure. These
// tests build them small; the benchmarks build them full size with the same
// code and check the counts again.

func TestSalesFixture(t *testing.T) {
	const n, unfinished = 3000, 120
	path := filepath.Join(t.TempDir(), "tillbox.db")
	fc := buildSalesFixture(t, path, n, unfinished)
	if fc.Sales != n || fc.Unfinished != unfinished {
		t.Errorf("%d sales, %d unfinished; want %d, %d", fc.Sales, fc.Unfinished, n, unfinished)
	}
	// One waits for a scan; the others cycle through unfinishedKinds.
	want := map[agent.State]int{agent.WaitingForCustomer: 1}
	wantKinds := map[string]int{}
	for j := range unfinished - 1 {
		k := unfinishedKinds[j%len(unfinishedKinds)]
		want[k.state]++
		if k.cmd != "" {
			wantKinds[k.cmd]++
		}
	}
	for st, w := range want {
		if fc.States[st] != w {
			t.Errorf("%d unfinished sales are %s, want %d (all: %v)", fc.States[st], st, w, fc.States)
		}
	}
	for k, w := range wantKinds {
		if fc.Kinds[k] != w {
			t.Errorf("%d %s commands, want %d (all: %v)", fc.Kinds[k], k, w, fc.Kinds)
		}
	}
	if fc.Events < 3*n {
		t.Errorf("%d events for %d sales, want some 4 a sale", fc.Events, n)
	}
	db := storetest.Open(t, path, store.Options{})
	defer db.Close()
	if err := db.Verify(); err != nil {
		t.Error(err)
	}
}

func TestQueuedFixture(t *testing.T) {
	const n = 300
	path := filepath.Join(t.TempDir(), "tillbox.db")
	buildQueuedFixture(t, path, n)
	fc := countFixture(t, path)
	if fc.Sales != n || fc.Unfinished != n || fc.Commands != n || fc.Kinds["create"] != n || fc.States[agent.Queued] != n {
		t.Errorf("got %+v; want %d queued sales, each with its create", fc, n)
	}
}

func TestJumpClock(t *testing.T) {
	c := newJumpClock()
	fired := make(chan string, 3)
	c.AfterFunc(time.Hour, func() { fired <- "hour" })
	stop := c.AfterFunc(2*time.Hour, func() { fired <- "stopped" })
	stopLater := c.AfterFunc(3*time.Hour, func() { fired <- "later" })
	defer stopLater()
	if !stop() {
		t.Error("stop of a pending timer reported false")
	}
	before := c.Now()
	c.jump(90 * time.Minute)
	if d := c.Now().Sub(before); d < 90*time.Minute || d > 91*time.Minute {
		t.Errorf("the clock moved %v, want 90m", d)
	}
	select {
	case f := <-fired:
		if f != "hour" {
			t.Errorf("%s fired, want hour", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the timer due by the jump did not fire")
	}
	select {
	case f := <-fired:
		t.Errorf("%s fired too", f)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestDrainRig builds the drain benchmark's state small, drains it after
// a restart and checks the outcome.
func TestDrainRig(t *testing.T) {
	if !supported {
		t.Skip(errUnsupported)
	}
	const n = 40
	d := newDrainRig(t, n)
	d.build(t)
	d.stopAgent(t)
	fc := countFixture(t, d.path)
	if fc.Sales != n || fc.States[agent.Capturing] != n || fc.Commands != n || fc.Kinds["capture"] != n {
		t.Fatalf("built %+v; want %d sales capturing, each with its capture queued", fc, n)
	}
	r := d.drain(t, true)
	d.check(t)
	d.close(t)
	if r.wall <= 0 || r.user+r.sys <= 0 {
		t.Errorf("drain measured %+v", r)
	}
}
