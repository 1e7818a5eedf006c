package crashtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/store"
)

var (
	soakFor = flag.Duration("soak", 0, "run TestCrash in rounds of 200 kills for this long (e.g. 4h)")
	keepDir = flag.String("dir", "", "keep the data directory and the agent's log in this (new or empty) directory")
)

const (
	killsPerRound = 200
	// window is the agent's customer-present window: a create not sent
	// within it is abandoned.
	window = 5 * time.Second
	// slowCreate is how long a create takes in the slow spell (sent in
	// time, answered just after the window), slowFor how long the spell
	// lasts.
	slowCreate = window + 300*time.Millisecond
	slowFor    = window + 3*time.Second
	// downtime is how long the agent stays down once a round: longer than
	// the window.
	downtime = window + time.Second
	// strikeAfter bounds the random moment of a kill after the agent
	// listens.
	strikeAfter = 400 * time.Millisecond
	// startTimeout bounds an agent process's start, settleTimeout the
	// wait for every sale's outcome after the kills: long enough for a
	// command the simulator's rate limit holds back for a minute.
	startTimeout  = time.Minute
	settleTimeout = 90 * time.Second
)

// TestCrash kills the agent process with SIGKILL at random moments while a
// POS sends sales and the simulator injects faults, restarts it on the same
// data directory each time, and then checks that nothing was lost, doubled or
// left dangling (see the package documentation).
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills an agent process 200 times")
	}
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	var follower sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		follower.Wait()
	})
	follower.Go(func() { w.pos.follow(ctx) })

	for round := 1; ; round++ {
		w.runRound(ctx, round)
		if t.Failed() || time.Since(w.start) >= *soakFor {
			break
		}
	}
	w.logFigures()
}

// world is everything around the agent process: the simulator, the
// webhook forwarder, the POS, the data directory and the agent's log.
type world struct {
	t        *testing.T
	dir      string   // holds the data directory and the agent's log
	logPath  string   // the agent's log of the round
	logFile  *os.File // open on logPath
	sim      *sim.Server
	simLog   *simCounter
	webhooks *webhookForwarder
	ep       *endpoint
	pos      *pos
	cfg      childConfig
	proc     *agentProcess // the agent process running, nil if none

	start         time.Time
	lastProgress  time.Time
	kills, starts int
	startTimes    []time.Duration // from exec to listening
	rounds        int
	outcomes      map[string]int // final states of every sale checked
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, ep: newEndpoint(), start: time.Now(), outcomes: map[string]int{}}
	w.lastProgress = w.start
	w.dir = t.TempDir()
	if *keepDir != "" {
		w.dir = *keepDir
		if err := os.MkdirAll(w.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(w.dir); len(entries) > 0 {
			t.Fatalf("-dir %s is not empty", w.dir)
		}
	}
	dataDir := filepath.Join(w.dir, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if w.logFile != nil {
			w.logFile.Close()
		}
	})

	// The simulator keeps every payment for the checks; a soak forgets
	// finished ones after 15 minutes, long after their round was checked.
	retention := time.Duration(-1)
	if *soakFor > 0 {
		retention = 15 * time.Minute
	}
	w.simLog = newSimCounter()
	w.sim = sim.New(sim.Options{MSN: msn, Retention: retention, Logger: slog.New(w.simLog),
		App: sim.AppPolicy{Action: sim.Approve, Delay: 50 * time.Millisecond}})
	simSrv := httptest.NewServer(w.sim)
	w.webhooks = &webhookForwarder{ep: w.ep, hc: &http.Client{Timeout: 5 * time.Second}, n: map[string]int{}}
	hookSrv := httptest.NewServer(w.webhooks)
	t.Cleanup(func() {
		hookSrv.Close()
		simSrv.Close()
		w.sim.Close()
	})
	t.Cleanup(func() { // first: no agent outlives the test
		if err := w.stopAgent(); err != nil {
			t.Error(err)
		}
	})

	hook, err := registerWebhook(simSrv.URL, hookSrv.URL+"/webhooks/vipps")
	if err != nil {
		t.Fatal(err)
	}
	token := randomHex(16)
	w.cfg = childConfig{DataDir: dataDir, SimURL: simSrv.URL, WebhookURL: hook.URL,
		WebhookSecret: hook.Secret.Reveal(), Token: token, Window: window}
	w.pos = newPOS(w.ep, epayment.Secret(token), w.sim)
	return w
}

// registerWebhook registers url for every ePayment event with the simulator.
func registerWebhook(simURL, url string) (*epayment.WebhookRegistration, error) {
	c, err := epayment.New(epayment.Config{BaseURL: simURL, ClientID: clientID,
		ClientSecret: "crash-secret", SubscriptionKey: "crash-key", MSN: msn})
	if err != nil {
		return nil, err
	}
	var events []string
	for _, n := range []epayment.EventName{epayment.EventCreated, epayment.EventAuthorized, epayment.EventAborted,
		epayment.EventExpired, epayment.EventCancelled, epayment.EventCaptured, epayment.EventRefunded, epayment.EventTerminated} {
		events = append(events, epayment.WebhookEventType(n))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.RegisterWebhook(ctx, url, events)
}

// runRound is one round: faults on, sales flowing, killsPerRound kills;
// then the last agent settles every sale without faults, is killed too,
// and the checks run on what the store, the POS and the simulator hold.
func (w *world) runRound(ctx context.Context, round int) {
	t := w.t
	w.rounds = round
	w.openLog(round)
	w.pos.beginRound(round)
	faultsOn(w.sim)
	rctx, cancel := context.WithCancel(ctx)
	stopSales, salesDone := make(chan struct{}), make(chan struct{})
	var seller sync.WaitGroup
	defer func() {
		cancel()
		seller.Wait()
	}()
	seller.Go(func() {
		defer close(salesDone)
		w.pos.sell(rctx, stopSales)
	})

	firstSeq := w.pos.last() + 1
	sc := newScenes()
	for i := range killsPerRound {
		w.outage(sc, round, i)
		w.startAgent()
		if sc.slowNow(i) {
			w.slowSpell(rctx, round)
		} else {
			w.strike(rctx)
		}
		w.killAgent()
		if i == sc.downAt {
			w.t.Logf("round %d: the agent stays down for %v after %d kills", round, downtime, i)
			pause(rctx, nil, downtime)
		}
		w.progress()
	}
	w.startAgent()
	close(stopSales)
	w.awaitSales(salesDone) // every sale sent is accepted: an agent is up to answer
	w.sim.ClearFaults()
	t.Logf("round %d: %d kills done after %v; faults off, settling", round, w.kills, time.Since(w.start).Round(time.Second))

	settled := time.Now()
	w.settle(rctx)
	t.Logf("round %d: settled in %v", round, time.Since(settled).Round(time.Millisecond))
	w.killAgent() // the checks open the store themselves
	w.check(round, firstSeq)
}

// awaitSales waits until the POS has sent its last sale and the running
// agent accepted it.
func (w *world) awaitSales(done <-chan struct{}) {
	w.t.Helper()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case <-done:
	case <-w.proc.exited:
		w.t.Fatalf("the agent process %d exited by itself: %v\n%s", w.proc.pid(), w.proc.waitErr, w.logTail(40))
	case <-timer.C:
		w.t.Fatalf("the agent did not accept the last sales within a minute")
	}
}

// openLog starts the agent's log of a round, agent-rNN.log, and removes
// the previous round's, which passed its checks.
func (w *world) openLog(round int) {
	if w.logFile != nil {
		w.logFile.Close()
		if !w.t.Failed() {
			_ = os.Remove(w.logPath)
		}
	}
	w.logPath = filepath.Join(w.dir, fmt.Sprintf("agent-r%02d.log", round))
	var err error
	if w.logFile, err = os.OpenFile(w.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// startAgent starts an agent process and publishes its URL.
func (w *world) startAgent() {
	w.t.Helper()
	begin := time.Now()
	p, err := startAgent(w.cfg, w.logFile, startTimeout)
	if err != nil {
		w.t.Fatalf("%v\n%s", err, w.logTail(40))
	}
	w.starts++
	w.startTimes = append(w.startTimes, time.Since(begin))
	w.proc = p
	w.ep.set(p.url)
}

// killAgent kills the agent process with SIGKILL, reaps it, and withdraws
// its URL. The agent must not have exited by itself.
func (w *world) killAgent() {
	w.t.Helper()
	if err := w.stopAgent(); err != nil {
		w.t.Fatal(err)
	}
}

// stopAgent kills the agent process, if one runs, and reports whether it
// had exited by itself.
func (w *world) stopAgent() error {
	p := w.proc
	if p == nil {
		return nil
	}
	w.proc = nil
	err := p.kill()
	w.ep.set("")
	w.pos.hc.CloseIdleConnections()
	w.kills++
	if err != nil {
		return fmt.Errorf("%w\n%s", err, w.logTail(40))
	}
	return nil
}

// settle waits until the last agent has settled everything: every
// accepted sale has its outcome in the event log the POS read, the outbox
// is empty, every sale is final, the POS has read the whole log, and no
// payment of the simulator waits for the customer.
func (w *world) settle(ctx context.Context) {
	start := time.Now()
	lastLog := start
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		waiting := w.unsettled(ctx)
		switch {
		case waiting == "":
			return
		case time.Since(start) > settleTimeout:
			w.t.Errorf("after %v the agent has still not settled: %s", settleTimeout, waiting)
			return
		case time.Since(lastLog) >= 10*time.Second:
			lastLog = time.Now()
			w.t.Logf("settling for %v: %s", time.Since(start).Round(time.Second), waiting)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// unsettled says what is not settled yet ("" when all is).
func (w *world) unsettled(ctx context.Context) string {
	if refs, n := w.pos.unsettled(5); n > 0 {
		return fmt.Sprintf("%d accepted sales without an outcome, e.g. %v", n, refs)
	}
	url, _ := w.ep.get()
	c := &posapi.Client{BaseURL: url, Token: epayment.Secret(w.cfg.Token), HTTPClient: w.pos.hc}
	st, err := c.Status(ctx)
	switch {
	case err != nil:
		return "status: " + err.Error()
	case st.Queued > 0 || st.Unfinished > 0:
		return fmt.Sprintf("%d commands queued, %d sales unfinished", st.Queued, st.Unfinished)
	case st.LastSeq != w.pos.last():
		return fmt.Sprintf("the POS read events up to %d of %d", w.pos.last(), st.LastSeq)
	}
	if created := w.sim.ListPayments(sim.PaymentFilter{MSN: msn, State: epayment.StateCreated, Limit: 5}); len(created) > 0 {
		return fmt.Sprintf("the simulator has payments waiting for the customer, e.g. %s", created[0].Reference)
	}
	return ""
}

// progress logs the figures once a minute.
func (w *world) progress() {
	if time.Since(w.lastProgress) < time.Minute {
		return
	}
	w.lastProgress = time.Now()
	w.t.Logf("progress after %v: round %d, %d kills; POS: %s", time.Since(w.start).Round(time.Second),
		w.rounds, w.kills, w.pos.figures())
}

// logFigures logs what the run did.
func (w *world) logFigures() {
	t := w.t
	var sum, most time.Duration
	least := time.Duration(math.MaxInt64)
	for _, d := range w.startTimes {
		sum += d
		most, least = max(most, d), min(least, d)
	}
	if len(w.startTimes) > 0 {
		t.Logf("figures: %v, %d rounds, %d kills (SIGKILL), %d agent starts: exec to listening %v min, %v mean, %v max",
			time.Since(w.start).Round(time.Second), w.rounds, w.kills, w.starts,
			least.Round(time.Millisecond), (sum / time.Duration(len(w.startTimes))).Round(time.Millisecond), most.Round(time.Millisecond))
	}
	t.Logf("figures: outcomes %v", w.outcomes)
	t.Logf("figures: POS %s", w.pos.figures())
	t.Logf("figures: simulator faults and refusals: %s", w.simLog.figures())
	t.Logf("figures: webhook deliveries %v", w.webhooks.counts())
}

// readStore opens the store after the agent was killed, verifies it, and
// reads the sales, the events from firstSeq on, and the figures.
//
// Not storetest: the store is read between two runs of the child (the next
// run opens it again) and a problem is the crash test's finding, returned
// to its loop; Verify runs here.
func (w *world) readStore(refs []string, firstSeq uint64) (map[string]*store.Sale, []store.Event, store.Stats, error) {
	db, err := store.Open(filepath.Join(w.cfg.DataDir, dbName), store.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, nil, store.Stats{}, err
	}
	defer db.Close()
	if err := db.Verify(); err != nil {
		return nil, nil, store.Stats{}, fmt.Errorf("store.Verify: %w", err)
	}
	sales := map[string]*store.Sale{}
	var events []store.Event
	err = db.View(func(tx *store.Tx) error {
		for _, ref := range refs {
			s, err := tx.Sale(ref)
			if err == nil {
				sales[ref] = s
			}
		}
		var err error
		events, err = tx.EventsAfter(firstSeq-1, 0)
		return err
	})
	if err != nil {
		return nil, nil, store.Stats{}, err
	}
	st, err := db.Stats()
	return sales, events, st, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
