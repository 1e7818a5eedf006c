package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/store"
)

// Agent runs the sales of one till. Create it with New, start its loops with
// Run, and stop them by ending Run's context.
type Agent struct {
	opts  Options
	db    *store.DB
	vipps *epayment.Client
	log   *slog.Logger
	clock clock.Clock

	// mu guards the in-memory state below; the store is the truth, this is
	// what the loops need between commits.
	mu       sync.Mutex
	scan     *heldScan            // a scan waiting for the next sale
	inflight map[string]bool      // references with a command being sent
	sending  map[uint64]bool      // the commands being sent (or their answers committed)
	polls    map[string]time.Time // next poll of each sale whose outcome is open
	online   bool
	lastCall time.Time
	lastErr  string
	// While offline the outbox sends one probe at a time, no sooner than
	// probeAt, instead of every queued command retrying on its own.
	probeAt    time.Time
	probeFails int
	auth       authState // refused credentials (auth.go)
	// Sales a webhook arrived for, to settle again once their command on
	// its way is answered (webhookhold.go).
	heldHooks map[string]bool
	// Sales whose last counted call got no answer, to take back from their
	// limit (outbox.go: uncount).
	uncounted []string

	wakeOutbox chan struct{} // a command is due
	wakePoll   chan struct{} // a poll is due
	wakeProbe  chan struct{} // the agent went offline (probe.go)
	events     *notifier     // a new event was committed
	watch      watchers      // told of scans and the network (watch.go)
	counts     counters      // for /metrics (counters.go)
	live       liveness      // for the watchdog (liveness.go)
	stop       stopping      // no new sales (stop.go)
	window     atomic.Int64  // the customer-present window (window.go)
}

// New makes an Agent over an open store and a Vipps MobilePay client.
func New(db *store.DB, vipps *epayment.Client, opts Options) (*Agent, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if vipps.MSN() != o.MSN && o.MSN != "" {
		return nil, errors.New("agent: MSN differs from the client's")
	}
	o.MSN = vipps.MSN()
	a := &Agent{
		opts: o, db: db, vipps: vipps, log: o.Logger, clock: o.Clock,
		inflight:   map[string]bool{},
		sending:    map[uint64]bool{},
		polls:      map[string]time.Time{},
		online:     true,
		auth:       authState{state: AuthUnknown},
		wakeOutbox: make(chan struct{}, 1),
		wakePoll:   make(chan struct{}, 1),
		wakeProbe:  make(chan struct{}, 1),
		events:     newNotifier(),
		live:       liveness{changed: make(chan struct{}, 1)},
	}
	a.window.Store(int64(o.CustomerPresentWindow))
	return a, nil
}

// Options returns the options in force, defaults filled in.
func (a *Agent) Options() Options {
	o := a.opts
	o.CustomerPresentWindow = a.CustomerPresentWindow()
	return o
}

// Run reconciles every unfinished sale, then sends queued commands and polls
// outcomes until ctx ends. It returns when its goroutines have stopped.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.reconcileAll(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.outboxLoop(ctx) })
	wg.Go(func() { a.pollLoop(ctx) })
	wg.Go(func() { a.pruneLoop(ctx) })
	wg.Go(func() { a.probeLoop(ctx) })
	wg.Wait()
	return nil
}

// pruneLoop keeps the store's growth bounded: finished sales and events
// past their retention are dropped, at start and every PruneEvery.
func (a *Agent) pruneLoop(ctx context.Context) {
	for {
		p, err := a.db.Prune(a.clock.Now())
		if err != nil {
			a.log.Error("prune", "err", err)
		} else if p != (store.Pruned{}) {
			a.log.Info("pruned", "sales", p.Sales, "events", p.Events)
		}
		if !sleep(ctx, a.clock, a.clock.Now().Add(a.opts.PruneEvery)) {
			return
		}
	}
}

// Status is what the display, the technician page and /readyz show.
type Status struct {
	Online       bool      `json:"online"`
	LastContact  time.Time `json:"lastContact,omitzero"`
	LastError    string    `json:"lastError,omitempty"`
	Queued       int       `json:"queued"`
	OldestQueued time.Time `json:"oldestQueued,omitzero"`
	MaxQueued    int       `json:"maxQueued"`
	MaxQueueAge  string    `json:"maxQueueAge"`
	QueueFull    bool      `json:"queueFull"`
	Unfinished   int       `json:"unfinished"`
	LastSeq      uint64    `json:"lastSeq"`
	ScanWaiting  bool      `json:"scanWaiting"`
	// Auth is what the last answer of Vipps MobilePay said of this box's
	// credentials: AuthUnknown, AuthAccepted or AuthRefused (LastError
	// then says how, unless the network failed since).
	Auth string `json:"auth"`
}

// Status reports the agent's health and the outbox against its caps.
func (a *Agent) Status() (Status, error) {
	st, err := a.db.Stats()
	if err != nil {
		return Status{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Status{
		Online: a.online, LastContact: a.lastCall, LastError: a.lastErr,
		Queued: st.Commands, OldestQueued: st.OldestCommand,
		MaxQueued: a.opts.MaxQueued, MaxQueueAge: a.opts.MaxQueueAge.String(),
		Unfinished: st.Unfinished, LastSeq: st.LastSeq,
		ScanWaiting: a.scan != nil && a.clock.Now().Before(a.scan.until),
	}
	s.Auth = a.auth.state
	if s.LastError == "" && a.auth.state == AuthRefused {
		s.LastError = a.auth.err
	}
	s.QueueFull = a.queueFull(st)
	return s, nil
}

func (a *Agent) queueFull(st store.Stats) bool {
	return st.Commands >= a.opts.MaxQueued ||
		(!st.OldestCommand.IsZero() && a.clock.Now().Sub(st.OldestCommand) > a.opts.MaxQueueAge)
}

// noteCall records how the last call to ePayment went: any answer means
// online, no answer means offline. Coming back online reconciles.
func (a *Agent) noteCall(err error) {
	a.noteAuth(err)
	a.noteReach(err)
}

// noteReach records whether a call (or a probe, which says nothing of the
// credentials) got an answer.
func (a *Agent) noteReach(err error) {
	var te *epayment.TransportError
	offline := errors.As(err, &te) && !te.Canceled
	a.mu.Lock()
	was := a.online
	a.online = !offline
	if !offline {
		a.lastCall = a.clock.Now()
		a.lastErr = ""
		a.probeFails, a.probeAt = 0, time.Time{}
	} else {
		a.lastErr = te.Err.Error()
		a.probeFails++
		a.probeAt = a.clock.Now().Add(backoff(a.opts.RetryBase, a.opts.RetryMax, a.probeFails))
	}
	a.mu.Unlock()
	if was == offline {
		a.notifyOnline()
		wake(a.wakeProbe)
	}
	switch {
	case was && offline:
		a.log.Warn("ePayment unreachable: working offline", "err", te.Err)
	case !was && !offline:
		a.log.Info("ePayment reachable again: reconciling")
		if err := a.reconcileAll(); err != nil {
			a.log.Error("reconcile", "err", err)
		}
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Backup writes a consistent copy of the database to w while the agent
// runs: for the technician page and `tillbox backup`.
func (a *Agent) Backup(w io.Writer) (int64, error) { return a.db.Backup(w) }

// StoreDamage reports the first damaged record of the database known to
// the store (by its record check at start, or met while serving), as a
// [*store.CorruptError] naming it; nil when none is known. checked is
// false while the store's check of every record still runs.
func (a *Agent) StoreDamage() (checked bool, err error) {
	select {
	case <-a.db.Checked():
		checked = true
	default:
	}
	return checked, a.db.Damage()
}
