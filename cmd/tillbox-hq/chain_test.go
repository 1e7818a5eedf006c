package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo/fleetdemotest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
)

// The chain test's knobs: `make test` runs it for a minute with 20
// boxes; `make soak-chain DURATION=4h` for hours (docs/chain.md, "Proof").
var (
	chainDuration = flag.Duration("chain.duration", time.Minute, "how long TestChain sells under chaos (a soak: hours, with -timeout 0)")
	chainSeed     = flag.Uint64("chain.seed", 0, "TestChain's chaos seed: 0 draws one (printed); a printed one replays that run's faults")
	chainBoxes    = flag.Int("chain.boxes", 20, "TestChain's number of boxes (stores of four tills)")
	chainRate     = flag.Float64("chain.rate", 4, "TestChain's sales a second, all boxes together")
)

// chainSettleBound bounds the wait for the chain to settle after the
// chaos: a box that was cut long reconnects within its back-off (30 s at
// most), a webhook delivered to a box that was killed before its ack comes
// again after the relay's ack wait (30 s). Only a hang reaches it.
const chainSettleBound = 4 * time.Minute

// TestChain is the chain's proof (issue 13, part 4): on loopback, a
// 3-node NATS cluster (TLS, a user per box), PostgreSQL, tillbox-hq as a
// process and 20 `tillbox run` processes with the simulator; a stream of
// sales while a seeded chaos kills boxes, tillbox-hq and one NATS node at
// a time with SIGKILL, restarts PostgreSQL (fast or by a crash) and cuts
// boxes' links for a while. At the end every event of every box is in
// PostgreSQL exactly once, with contiguous sequences, byte for byte equal
// to the box's own event log (its store, read once it stopped), and every
// webhook headquarters relayed was taken by its box.
func TestChain(t *testing.T) {
	seed := *chainSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("chain test: seed %d (replay with -chain.seed=%d), %d boxes, %s of sales under chaos", seed, seed, *chainBoxes, *chainDuration)
	rig := startChain(t, *chainBoxes)
	plan := chaosPlan(seed, *chainDuration, len(rig.boxes), len(rig.cluster.Servers()))

	began := time.Now()
	sales := rig.chain.RunSales(context.Background(), fleetdemo.SalesOptions{Rate: *chainRate, DeclineEvery: 7})
	var log chaosLog
	stopProgress := progress(t, began, sales, &log)
	err := runChaos(t, plan, rig, &log)
	stopProgress()
	sales.Stop()
	started, done := sales.Counts()
	t.Logf("chaos over after %s: %d sales started, %d followed to their outcome; faults %v", time.Since(began).Round(time.Second), started, done, count(plan))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d; the chaos (its last steps):\n%s", seed, tail(log.String(), 400))
		}
	})
	if err != nil {
		t.Fatalf("the chaos: %v", err)
	}
	if done == 0 {
		t.Fatal("no sale reached its outcome")
	}
	rig.checkEnd(t)
	t.Logf("chain test done in %s (seed %d)", time.Since(began).Round(time.Second), seed)
}

// progress says every five minutes of a soak how far it is; the function
// it returns stops it.
func progress(t *testing.T, began time.Time, sales *fleetdemo.Sales, log *chaosLog) func() {
	if *chainDuration < 10*time.Minute {
		return func() {}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			started, done := sales.Counts()
			t.Logf("%s of %s: %d sales started, %d followed to their outcome, %d chaos steps",
				time.Since(began).Round(time.Second), *chainDuration, started, done, log.Len())
		}
	})
	return func() { close(stop); wg.Wait() }
}

// chainRig is the chain of the test and what the chaos acts on.
type chainRig struct {
	chain   *fleetdemo.Chain
	cluster *natstest.Cluster
	pg      *pgtest.Postgres
	boxes   []*fleetdemo.Box
	cutters map[wire.Till]*linkCutter
	log     *syncBuffer // the orchestrator's messages
}

// chainStores are n tills in stores of four, a sales unit each.
func chainStores(n int) []fleetdemo.Store {
	var stores []fleetdemo.Store
	for i := 0; i < n; i += 4 {
		s := fleetdemo.Store{ID: fmt.Sprintf("store-%d", len(stores)+1), MSN: fmt.Sprintf("%d", 200001+len(stores))}
		for j := i; j < min(n, i+4); j++ {
			s.Tills = append(s.Tills, fmt.Sprintf("t%d", j-i+1))
		}
		stores = append(stores, s)
	}
	return stores
}

// startChain starts PostgreSQL, the NATS cluster, a link cutter per box,
// and the chain: the simulator, tillbox-hq (this test binary run as a
// process) and the boxes, each of which headquarters has heard from (it
// routes their webhooks).
func startChain(t *testing.T, n int) *chainRig {
	t.Helper()
	stores := chainStores(n)
	tills := fleetdemotest.Tills(testChain, stores)
	r := &chainRig{pg: pgtest.Start(t), cutters: map[wire.Till]*linkCutter{}, log: &syncBuffer{}}
	r.cluster = natstest.StartCluster(t, 3, natstest.Options{TLS: true, Tills: tills})
	for _, till := range tills {
		r.cutters[till] = newLinkCutter(t, r.cluster.URLs())
	}
	nats := fleetdemotest.NATS(strings.Split(r.cluster.URLs(), ","), r.cluster, 3)
	// Each box reaches the servers through its own link cutter.
	nats.BoxURLs = func(till wire.Till) []string { return r.cutters[till].URLs() }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := fleetdemo.Start(ctx, fleetdemo.Options{
		Chain: testChain, Stores: stores, Dir: t.TempDir(),
		TillboxBin: buildTillbox(t), HQBin: hqAsProcess(t),
		NATS: nats, PostgresDSN: r.pg.DSN(), Heartbeat: time.Second,
		NoScanner: true, // a sale in flight when the sales stop ends by itself
		Logger:    slog.New(slog.NewTextHandler(r.log, nil)),
	})
	if err != nil {
		t.Fatalf("the chain does not start: %v\n%s", err, r.log.String())
	}
	r.chain, r.boxes = c, c.Boxes()
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("stopping the chain: %v", err)
		}
		if t.Failed() {
			t.Logf("the orchestrator:\n%s\ntillbox-hq's log (tail):\n%s", r.log.String(), tail(c.HQ().Log(), 200))
			for _, b := range c.Boxes() {
				t.Logf("%s's log (tail):\n%s", b.Till, tail(b.Log(), 30))
			}
		}
	})
	return r
}

// buildTillbox builds the tillbox program into the test's folder.
func buildTillbox(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tillbox")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/tillbox/tillbox/cmd/tillbox").CombinedOutput()
	if err != nil {
		t.Fatalf("go build tillbox: %v\n%s", err, out)
	}
	return bin
}

// hqAsProcess is a program that runs this test binary as tillbox-hq with
// its arguments (TestMain runs main when TILLBOX_HQ_TEST_ARGS is set):
// headquarters under the race detector when the test is, and no build.
func hqAsProcess(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "tillbox-hq")
	body := fmt.Sprintf("#!/bin/sh\nTILLBOX_HQ_TEST_ARGS=\"$*\" exec %q\n", self)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return script
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// startTimeout bounds a start of a process by the chaos (a box, tillbox-hq
// once PostgreSQL and NATS answer); only a hang reaches it.
const startTimeout = 2 * time.Minute

// The chaos's targets.

func (r *chainRig) KillBox(i int) error { r.boxes[i].Kill(); return nil }

func (r *chainRig) StartBox(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return r.boxes[i].Start(ctx)
}

func (r *chainRig) CutLink(i int) error { r.cutters[r.boxes[i].Till].Cut(); return nil }

// RestoreLink restores box i's link, once the box has said it was
// disconnected all along (it reached no server round the cut).
func (r *chainRig) RestoreLink(i int) error {
	b := r.boxes[i]
	defer r.cutters[b.Till].Restore()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := boxMetrics(ctx, b.URL())
	if err != nil {
		return fmt.Errorf("box %d's metrics: %w", i, err)
	}
	if m["tillbox_fleet_connected"] != 0 {
		return fmt.Errorf("box %d is connected to headquarters through a cut link", i)
	}
	return nil
}

func (r *chainRig) KillHQ() error { r.chain.HQ().Kill(); return nil }

func (r *chainRig) StartHQ() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return r.chain.HQ().Start(ctx)
}

func (r *chainRig) KillNATS(i int) error { r.cluster.Kill(i); return nil }

// StartNATS starts node i again and returns once it has caught up with
// the cluster (natstest fails the test if it does not).
func (r *chainRig) StartNATS(i int) error { r.cluster.Restart(i); return nil }

func (r *chainRig) RestartPG(crash bool) error {
	if crash {
		r.pg.Kill()
	}
	r.pg.Restart()
	return nil
}

// checkEnd is the end of the test: everything runs again and every link
// is up; the chain settles; the boxes stop; each box's log is compared
// with PostgreSQL and the journal, its relayed webhooks with its
// consumer's acknowledgements.
func (r *chainRig) checkEnd(t *testing.T) {
	t.Helper()
	checked := make([]checkedBox, len(r.boxes))
	for i, b := range r.boxes {
		if !b.Running() {
			t.Fatalf("%s does not run after the chaos", b.Till)
		}
		r.cutters[b.Till].Restore()
		checked[i] = checkedBox{till: b.Till, url: b.URL, db: filepath.Join(b.Dir(), "data", "tillbox.db")}
	}
	if !r.chain.HQ().Running() {
		t.Fatal("tillbox-hq does not run after the chaos")
	}
	db := pgConn(t, r.pg.DSN())
	_, js := jsOf(t, r.cluster.Connect(t, r.cluster.URLs(), r.cluster.HQ()))
	began := time.Now()
	last := settle(t, checked, db, js, chainSettleBound)
	t.Logf("settled in %s", time.Since(began).Round(100*time.Millisecond))

	var wg sync.WaitGroup
	errs := make([]error, len(r.boxes))
	for i, b := range r.boxes {
		wg.Go(func() { errs[i] = b.Stop() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("stopping the boxes: %v", err)
	}
	journal := subjectCounts(t, js, wire.JournalStream, "tillbox."+testChain+".journal.>")
	relay := subjectCounts(t, js, wire.RelayStream, "tillbox."+testChain+".relay.>")
	var events int
	var relayed uint64
	for i, b := range checked {
		n := checkLog(t, b, db, journal)
		if n == 0 || uint64(n) != last[i] {
			t.Fatalf("%s: %d events in its log, %d when the chain settled", b.till, n, last[i])
		}
		events += n
		relayed += checkRelay(t, js, b.till, relay)
	}
	if relayed == 0 {
		t.Fatal("headquarters relayed no webhook")
	}
	t.Logf("%d boxes: %d events in PostgreSQL exactly once, equal to the boxes' logs; %d webhooks relayed, each taken by its box",
		len(checked), events, relayed)
	// Every webhook of the chain's tills reached its till: headquarters
	// answers 503 (Vipps MobilePay retries) when it cannot read the tills
	// to route one, never files it as nobody's.
	if unrouted := unroutedWebhooks(t, js); unrouted != "" {
		t.Errorf("webhooks of the chain's tills headquarters did not route: %s", unrouted)
	}
}

// unroutedWebhooks says which webhooks headquarters could not route to a
// till (kept on the relay's unrouted subjects).
func unroutedWebhooks(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, wire.RelayStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{wire.UnroutedSubject(testChain, "*")}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for range info.NumPending {
		m, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var w struct{ Reference, Name string }
		_ = json.Unmarshal(m.Data(), &w)
		out = append(out, w.Reference+" "+w.Name)
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprintf("%d (%s)", len(out), strings.Join(out, ", "))
}
