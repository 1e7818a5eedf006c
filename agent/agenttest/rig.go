package agenttest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// The rig's defaults.
const (
	MSN      = "123456"
	Till     = "t1"
	ClientID = "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"
)

// Options configure a [Rig]. The zero value is a till whose simulated
// customer approves every payment after 30 ms, with the agent's production
// timings: see [Fast] for a sale that goes through in well under a second.
type Options struct {
	// Sim configures the simulator. A zero App approves after 30 ms; a nil
	// Logger is the rig's.
	Sim sim.Options
	// Agent configures the agent (its own defaults apply); a nil Logger
	// is the rig's.
	Agent agent.Options
	// Store configures the store; a nil Logger is the rig's.
	Store store.Options
	// Vipps configures the agent's ePayment client. BaseURL is set by
	// [Rig.Start]; empty ClientID, ClientSecret, SubscriptionKey and MSN
	// get test values (MSN: the agent's, else [MSN]); a nil HTTPClient has
	// a 5 s timeout, a nil Logger is the rig's.
	Vipps epayment.Config
	// Path is the database file; default tillbox.db in t.TempDir().
	Path string
	// Logs captures the log (default: a new [Logs]); Logger is the rig's
	// logger (default: Logs.Logger()). Each part logs With("part", name).
	Logs   *Logs
	Logger *slog.Logger
	// NoStart makes New start the simulator only: the test then calls
	// [Rig.Start] with the URL the agent is to call (a dead address, a
	// proxy in front of [Rig.Sim]).
	NoStart bool
	// NoRun leaves the agent's loops stopped: commands stay queued.
	NoRun bool
	// Before, when set, runs in every [Rig.Start] after the client is made
	// (Rig.Vipps) and before the agent: to register a webhook, say, and
	// put its secret in o.
	Before func(r *Rig, o *agent.Options)
}

// Rig is a till in a test. Its fields are set by [New] and [Rig.Start];
// DB and Agent change when the test restarts the till.
type Rig struct {
	T      testing.TB
	Path   string           // the database file
	Sim    *sim.Server      // the simulator
	SimURL string           // its base URL on loopback
	Vipps  *epayment.Client // the agent's client
	DB     *store.DB
	Agent  *agent.Agent
	Logs   *Logs
	Log    *slog.Logger

	opts   Options
	cancel context.CancelFunc // nil: the agent's loops are not running
	done   chan error
}

// Fast are agent options that make a sale go through in well under a
// second: polls every 20 ms, retries from 10 ms to 100 ms.
func Fast() agent.Options {
	return agent.Options{MSN: MSN, Till: Till,
		PollDelay: 20 * time.Millisecond, PollEvery: 20 * time.Millisecond,
		RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}
}

// New starts the simulator on loopback and, unless o.NoStart, the till
// against it (see [Rig.Start]). Everything stops when the test ends, and
// the store's file is then verified (store/storetest).
func New(t testing.TB, o Options) *Rig {
	t.Helper()
	r := &Rig{T: t, Path: o.Path, Logs: o.Logs, Log: o.Logger}
	if r.Path == "" {
		r.Path = filepath.Join(t.TempDir(), "tillbox.db")
	}
	if r.Logs == nil {
		r.Logs = NewLogs()
	}
	if r.Log == nil {
		r.Log = r.Logs.Logger()
	}
	t.Cleanup(r.logOnFailure)
	if o.Sim.App.Action == 0 {
		o.Sim.App = sim.AppPolicy{Action: sim.Approve, Delay: 30 * time.Millisecond}
	}
	if o.Sim.Logger == nil {
		o.Sim.Logger = r.Log.With("part", "sim")
	}
	r.opts = o
	r.Sim = sim.New(o.Sim)
	srv := httptest.NewServer(r.Sim)
	r.SimURL = srv.URL
	t.Cleanup(func() { srv.Close(); r.Sim.Close() })
	if !o.NoStart {
		r.Start(r.SimURL)
	}
	return r
}

// Start opens the store, makes a client calling vippsURL and an agent over
// both, and runs the agent's loops (unless Options.NoRun) until [Rig.Stop]
// or the end of the test.
func (r *Rig) Start(vippsURL string) {
	r.T.Helper()
	o := r.opts
	ao := o.Agent
	if ao.Logger == nil {
		ao.Logger = r.Log.With("part", "agent")
	}
	so := o.Store
	if so.Logger == nil {
		so.Logger = r.Log.With("part", "store")
	}
	r.Vipps = r.client(vippsURL, ao.MSN)
	if o.Before != nil {
		o.Before(r, &ao)
	}
	r.DB = storetest.Open(r.T, r.Path, so)
	a, err := agent.New(r.DB, r.Vipps, ao)
	if err != nil {
		r.T.Fatalf("agent.New: %v", err)
	}
	r.Agent = a
	if o.NoRun {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- a.Run(ctx) }()
	r.T.Cleanup(r.Stop)
}

func (r *Rig) client(baseURL, msn string) *epayment.Client {
	r.T.Helper()
	c := r.opts.Vipps
	c.BaseURL = baseURL
	if c.ClientID == "" {
		c.ClientID = ClientID
	}
	if c.ClientSecret == "" {
		c.ClientSecret = "client-secret"
	}
	if c.SubscriptionKey == "" {
		c.SubscriptionKey = "subscription-key"
	}
	if c.MSN == "" {
		c.MSN = msn
	}
	if c.MSN == "" {
		c.MSN = MSN
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = r.Log.With("part", "epayment")
	}
	v, err := epayment.New(c)
	if err != nil {
		r.T.Fatalf("epayment.New: %v", err)
	}
	return v
}

// Stop ends the agent's loops and closes the store; the test may Start
// the till again. Stop is idempotent.
func (r *Rig) Stop() {
	if r.cancel != nil {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				r.T.Errorf("agent.Run: %v", err)
			}
		case <-time.After(Bound):
			r.T.Errorf("agent.Run did not return %v after its context ended", Bound)
		}
		r.cancel = nil
	}
	if r.DB != nil {
		if err := r.DB.Close(); err != nil {
			r.T.Errorf("store: close: %v", err)
		}
	}
}

// logOnFailure shows the end of the log when the test failed.
func (r *Rig) logOnFailure() {
	if !r.T.Failed() {
		return
	}
	lines := r.Logs.Lines()
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	r.T.Logf("the rig's log, last %d lines:\n%s", len(lines), strings.Join(lines, "\n"))
}
