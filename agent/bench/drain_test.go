package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

const drainSales = 10_000

// BenchmarkDrain10kCaptures is draining 10 000 queued captures after an
// outage: the wall time from the end of the outage until the outbox is
// empty and every sale completed, and the agent's CPU time per capture.
//
// The state is built by the agent itself, against the simulator, with fsync
// on: 10 000 sales with a customer (agent.CreateSale), each created at
// ePayment, approved by the simulated app and authorised as the agent's
// polling learns, which queues its automatic capture; the capture endpoint
// fails (an injected 5xx on every capturePayment), so each capture is tried
// once, refused, and backed off by an hour (RetryBase = RetryMax = 1 h). The
// outage ends when the fault is cleared and the agent's clock jumps two
// hours (jumpClock): every capture is due at once, as if the outage had
// outlasted the back-off. In the field the captures fall due spread over the
// back-off (RetryMax, default 1 minute); here the wall time is the agent's
// throughput alone.
//
//   - online: the agent that queued the captures drains them. A 5xx is an
//     answer, so the agent never went offline and does not reconcile.
//   - restart: the agent was stopped during the outage and starts after it
//     (store.Open, agent.Run): Run reconciles first, so besides the 10 000
//     captures it polls every unfinished sale (10 000 GETs).
//
// The simulator runs in a child process, so the CPU time of this process
// during the drain (getrusage: user + system, the kernel's share of the
// HTTP calls and of the fsyncs included) is the agent's, plus this
// benchmark's status check every 5 ms. cpu-µs/cmd divides it by the 10 000
// captures; user-µs/cmd is the user part; sim-cpu-µs/cmd is the simulator's
// (from /proc, 10 ms resolution), for scale. allocs/cmd and B/cmd are this
// process's heap allocations during the drain per capture, GCs the garbage
// collections it took. Afterwards the benchmark checks that every sale is
// completed and every payment captured in full once.
//
// The drain alone can be profiled (the build before it would swamp a
// -cpuprofile): DRAIN_CPUPROFILE=file writes its CPU profile,
// DRAIN_MEMPROFILE=file the allocations before (file.before) and after it,
// for go tool pprof -sample_index=alloc_space -base file.before.
//
//	go test -run '^$' -bench Drain -benchtime 1x ./agent/bench/
func BenchmarkDrain10kCaptures(b *testing.B) {
	if !supported {
		b.Skip(errUnsupported)
	}
	for _, restart := range []bool{false, true} {
		name := "online"
		if restart {
			name = "restart"
		}
		b.Run(name, func(b *testing.B) {
			var sum drainResult
			for b.Loop() {
				b.StopTimer()
				d := newDrainRig(b, drainSales)
				d.build(b)
				if restart {
					d.stopAgent(b)
				}
				runtime.GC()
				b.StartTimer()
				r := d.drain(b, restart)
				b.StopTimer()
				d.check(b)
				d.close(b)
				sum.add(r)
				b.StartTimer()
			}
			n := float64(b.N) * drainSales
			b.ReportMetric(sum.wall.Seconds()/float64(b.N), "wall-s")
			b.ReportMetric(n/sum.wall.Seconds(), "cmds/s")
			b.ReportMetric(float64((sum.user+sum.sys).Microseconds())/n, "cpu-µs/cmd")
			b.ReportMetric(float64(sum.user.Microseconds())/n, "user-µs/cmd")
			b.ReportMetric(float64(sum.sim.Microseconds())/n, "sim-cpu-µs/cmd")
			b.ReportMetric(float64(sum.allocs)/n, "allocs/cmd")
			b.ReportMetric(float64(sum.bytes)/n, "B/cmd")
			b.ReportMetric(float64(sum.gcs)/float64(b.N), "GCs")
		})
	}
}

type drainResult struct {
	wall, user, sys, sim time.Duration
	allocs, bytes, gcs   uint64
}

func (r *drainResult) add(o drainResult) {
	r.wall += o.wall
	r.user += o.user
	r.sys += o.sys
	r.sim += o.sim
	r.allocs += o.allocs
	r.bytes += o.bytes
	r.gcs += o.gcs
}

// drainRig is a till whose outbox holds n queued captures of authorised
// payments the simulator holds.
type drainRig struct {
	n      int
	path   string
	sim    *child
	simURL string
	clock  *jumpClock
	opts   agent.Options
	x      *box
}

// newDrainRig starts the simulator (approving every payment after 20 ms)
// with capturePayment failing, and an agent against it.
func newDrainRig(tb testing.TB, n int) *drainRig {
	tb.Helper()
	d := &drainRig{n: n, path: filepath.Join(tb.TempDir(), "tillbox.db"), clock: newJumpClock()}
	d.sim, d.simURL = startSim(tb, "approve")
	d.opts = agent.Options{MaxQueued: 2*n + 100, Clock: d.clock,
		PollDelay: 30 * time.Millisecond, PollEvery: 50 * time.Millisecond,
		RetryBase: time.Hour, RetryMax: time.Hour}
	simControl(tb, d.simURL, http.MethodPost, "/sim/faults", sim.Fault{Endpoint: "capturePayment", Status5xx: 1}, nil)
	d.x = openBox(tb, d.path, store.Options{}, d.simURL, d.opts)
	d.x.start()
	return d
}

// build makes the n sales, keeping at most 32 on their way to a queued
// capture, and returns once every capture has been tried and refused.
func (d *drainRig) build(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	capturing := map[string]bool{}
	var seq uint64
	created := 0
	deadline := time.Now().Add(10 * time.Minute)
	for len(capturing) < d.n {
		for ; created < d.n && created-len(capturing) < 32; created++ {
			if _, err := d.x.agent.CreateSale(ctx, queuedSale(created)); err != nil {
				tb.Fatalf("sale %d: %v", created, err)
			}
		}
		evs, err := d.x.agent.Events(ctx, seq, 1000, time.Second)
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range evs {
			seq = e.Seq
			switch {
			case e.State == agent.Capturing:
				capturing[e.Reference] = true
			case e.State.Outcome():
				tb.Fatalf("sale %s: %s (%s)", e.Reference, e.State, e.Sale.Message)
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after 10 minutes, %d of %d sales have their capture queued", len(capturing), d.n)
		}
	}
	for tried := 0; tried < d.n; time.Sleep(50 * time.Millisecond) {
		tried = 0
		err := d.x.db.View(func(tx *store.Tx) error {
			cmds, err := tx.Commands(0, 0)
			for _, c := range cmds {
				if c.Kind != "capture" {
					return fmt.Errorf("a %s command is queued for %s", c.Kind, c.Reference)
				}
				if c.Attempts > 0 {
					tried++
				}
			}
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after 10 minutes, %d of %d captures were tried", tried, d.n)
		}
	}
}

// stopAgent stops the agent and closes the store: the box is switched off
// during the outage.
func (d *drainRig) stopAgent(tb testing.TB) {
	tb.Helper()
	if err := d.x.stop(); err != nil {
		tb.Fatal(err)
	}
	d.x = nil
}

// drain ends the outage and waits until the outbox is empty and every sale
// is final. With restart, the box starts first.
func (d *drainRig) drain(tb testing.TB, restart bool) drainResult {
	tb.Helper()
	if path := os.Getenv("DRAIN_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			tb.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			tb.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				tb.Error(err)
			}
		}()
	}
	if path := os.Getenv("DRAIN_MEMPROFILE"); path != "" {
		writeHeapProfile(tb, path+".before")
		defer writeHeapProfile(tb, path)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	allocs, bytes, gcs := ms.Mallocs, ms.TotalAlloc, ms.NumGC
	user, sys := cpuTime()
	simCPU, err := processCPU(d.sim.Pid())
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	simControl(tb, d.simURL, http.MethodDelete, "/sim/faults", nil, nil)
	d.clock.jump(2 * time.Hour)
	if restart {
		d.x = openBox(tb, d.path, store.Options{}, d.simURL, d.opts)
		d.x.start()
	}
	deadline := start.Add(10 * time.Minute)
	for {
		st, err := d.x.agent.Status()
		if err != nil {
			tb.Fatal(err)
		}
		if st.Queued == 0 && st.Unfinished == 0 {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after 10 minutes, %d commands are queued and %d sales unfinished", st.Queued, st.Unfinished)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := drainResult{wall: time.Since(start)}
	user2, sys2 := cpuTime()
	simCPU2, err := processCPU(d.sim.Pid())
	if err != nil {
		tb.Fatal(err)
	}
	r.user, r.sys, r.sim = user2-user, sys2-sys, simCPU2-simCPU
	runtime.ReadMemStats(&ms)
	r.allocs, r.bytes, r.gcs = ms.Mallocs-allocs, ms.TotalAlloc-bytes, uint64(ms.NumGC-gcs)
	return r
}

// writeHeapProfile writes the allocations so far: DRAIN_MEMPROFILE's two
// files (before and after the drain) give the drain's alloc_space with
// go tool pprof -base.
func writeHeapProfile(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		tb.Error(err)
	}
	if err := f.Close(); err != nil {
		tb.Error(err)
	}
}

// check verifies the outcome: every sale completed and captured in full,
// and at the simulator every payment captured in full, by one capture.
func (d *drainRig) check(tb testing.TB) {
	tb.Helper()
	err := d.x.db.View(func(tx *store.Tx) error {
		sales, err := tx.Sales("", 0)
		if err != nil {
			return err
		}
		if len(sales) != d.n {
			return fmt.Errorf("%d sales, want %d", len(sales), d.n)
		}
		for _, s := range sales {
			if s.State != string(agent.Completed) || s.Aggregate.Captured != s.Amount || !s.Final {
				return fmt.Errorf("sale %s is %s (final %v), captured %d of %d", s.Reference, s.State, s.Final, s.Aggregate.Captured, s.Amount)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	var ps []sim.PaymentInfo
	simControl(tb, d.simURL, http.MethodGet, "/sim/payments", nil, &ps)
	if len(ps) != d.n {
		tb.Fatalf("the simulator holds %d payments, want %d", len(ps), d.n)
	}
	for _, p := range ps {
		if p.State != epayment.StateAuthorized || p.Aggregate.CapturedAmount.Value != p.Amount.Value || p.Ops.Capture != 1 {
			tb.Fatalf("payment %s: %s, captured %d of %d in %d captures", p.Reference, p.State,
				p.Aggregate.CapturedAmount.Value, p.Amount.Value, p.Ops.Capture)
		}
	}
}

func (d *drainRig) close(tb testing.TB) {
	tb.Helper()
	if err := d.x.stop(); err != nil {
		tb.Error(err)
	}
	if err := d.sim.stop(); err != nil {
		tb.Error(err)
	}
}

// simControl calls the simulator's control API: body (if not nil) is sent
// as JSON, and a 2xx answer is decoded into out (if not nil).
func simControl(tb testing.TB, base, method, path string, body, out any) {
	tb.Helper()
	var js []byte
	if body != nil {
		var err error
		if js, err = json.Marshal(body); err != nil {
			tb.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(js))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := loopbackClient().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		tb.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			tb.Fatalf("%s %s: %v", method, path, err)
		}
	}
}
