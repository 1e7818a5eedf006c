package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

const (
	vippsQR  = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"
	otherQR  = "https://qr.vipps.no/28/2/01/031/4798765432?v=1"
	clientID = "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"
)

// rig is one till: a real bbolt file, the simulator on loopback, and an
// agent whose loops run until the test ends.
type rig struct {
	t      *testing.T
	dir    string
	sim    *sim.Server
	srv    *httptest.Server
	db     *store.DB
	agent  *agent.Agent
	opts   agent.Options
	store  store.Options
	cancel context.CancelFunc
	done   chan struct{}
}

// fast are options that make a sale go through in well under a second.
func fast() agent.Options {
	return agent.Options{
		MSN: "123456", Till: "t1",
		PollDelay: 20 * time.Millisecond, PollEvery: 20 * time.Millisecond,
		RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
	}
}

func newRig(t *testing.T, simOpts sim.Options, opts agent.Options) *rig {
	t.Helper()
	if simOpts.App.Action == 0 {
		simOpts.App = sim.AppPolicy{Action: sim.Approve, Delay: 30 * time.Millisecond}
	}
	r := &rig{t: t, dir: t.TempDir(), opts: opts}
	r.sim = sim.New(simOpts)
	r.srv = httptest.NewServer(r.sim)
	t.Cleanup(func() { r.srv.Close(); r.sim.Close() })
	r.start(r.srv.URL)
	return r
}

// start opens the store and runs an agent against baseURL.
func (r *rig) start(baseURL string) {
	r.t.Helper()
	db, err := store.Open(filepath.Join(r.dir, "tillbox.db"), r.store)
	if err != nil {
		r.t.Fatal(err)
	}
	c, err := epayment.New(epayment.Config{BaseURL: baseURL, ClientID: clientID, ClientSecret: "s",
		SubscriptionKey: "k", MSN: "123456", HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		r.t.Fatal(err)
	}
	o := r.opts
	if testing.Verbose() && o.Logger == nil { // a test that reads its log keeps it
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := agent.New(db, c, o)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.db, r.agent, r.cancel, r.done = db, a, cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		if err := a.Run(ctx); err != nil {
			r.t.Errorf("agent.Run: %v", err)
		}
	}()
	r.t.Cleanup(r.stop)
}

// stop ends the agent's loops and closes the store (idempotent).
func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	if err := r.db.Verify(); err != nil {
		r.t.Errorf("store check after the test: %v", err)
	}
	r.db.Close()
	r.cancel = nil
}

func (r *rig) sale(req agent.SaleRequest) agent.Sale {
	r.t.Helper()
	if req.Currency == "" {
		req.Currency = "NOK"
	}
	s, err := r.agent.CreateSale(context.Background(), req)
	if err != nil {
		r.t.Fatalf("CreateSale: %v", err)
	}
	return s
}

// waitState waits for the sale to reach want, failing after a while.
func (r *rig) waitState(ref string, want agent.State) agent.Sale {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := r.agent.GetSale(ref)
		if err != nil {
			r.t.Fatal(err)
		}
		if s.State == want {
			return s
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("sale %s is %s (%s), want %s", ref, s.State, s.Message, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// simPayment is the simulator's record of a reference (ok false if none).
func (r *rig) simPayment(ref string) (sim.PaymentInfo, bool) {
	for _, p := range r.sim.Payments() {
		if p.Reference == ref {
			return p, true
		}
	}
	return sim.PaymentInfo{}, false
}

// states returns the states the event log reported for ref, in order.
func (r *rig) states(ref string) []agent.State {
	evs, err := r.agent.Events(context.Background(), 0, 1000, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []agent.State
	for _, e := range evs {
		if e.Reference == ref {
			out = append(out, e.State)
		}
	}
	return out
}

var refN atomic.Int64

func ref() string { return fmt.Sprintf("test-ref-%06d", refN.Add(1)) }
