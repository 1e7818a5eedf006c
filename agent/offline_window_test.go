package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

// A create that surely never left (its token call failed) stays queued and
// is abandoned when its customer-present window ends, online or not: the
// POS gets `abandoned` at once, never `requested`.

// fakeTimeOptions are fast() on a clock.Fake, with the log in a buffer.
func fakeTimeOptions(t *testing.T, window time.Duration) (agent.Options, *clock.Fake, *agenttest.Logs) {
	clock := clock.NewFake(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	logs := agenttest.NewLogs()
	o := fast()
	o.Clock = clock
	o.CustomerPresentWindow = window
	o.Logger = logs.Logger()
	return o, clock, logs
}

// attempted waits until the create of ref has been tried n times and
// returns it as the outbox left it.
func (r *rig) attempted(ref string, n int) store.Command {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var create *store.Command
		if err := r.db.View(func(tx *store.Tx) error {
			cmds, err := tx.CommandsFor(ref)
			for i := range cmds {
				if cmds[i].Kind == "create" {
					create = &cmds[i]
				}
			}
			return err
		}); err != nil {
			r.t.Fatal(err)
		}
		if create == nil {
			s, _ := r.agent.GetSale(ref)
			r.t.Fatalf("sale %s (%s: %s) has no create queued", ref, s.State, s.Message)
		}
		if create.Attempts >= n {
			return *create
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("create of %s tried %d times, want %d", ref, create.Attempts, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitStateOn is waitState on a clock.Fake: a loop may set its timer a
// moment after the test moved the clock past the timer's time, so each
// look fires the timers due by now (a real clock's timers would fire).
func (r *rig) waitStateOn(clock *clock.Fake, ref string, want agent.State) agent.Sale {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		clock.Advance(0)
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

// status is the agent's status as the POS API and the technician page
// serialise it.
func (r *rig) status() map[string]any {
	r.t.Helper()
	st, err := r.agent.Status()
	if err != nil {
		r.t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		r.t.Fatal(err)
	}
	return m
}

// Every token call answered 401 (the wrong client secret): the sale stays
// queued, the status names the refusal, the log says it once as an ERROR
// (again after 5 minutes), and the sale is abandoned when its window ends.
// Once the credentials work, an INFO says so and the next sale goes through.
func TestRefusedCredentialsQueueAndAbandon(t *testing.T) {
	opts, clock, logs := fakeTimeOptions(t, 20*time.Second)
	// The simulator wants another client secret than the box's, until the
	// test mends the box's settings (here: the header on its way).
	var mended atomic.Bool
	r := idleRig(t, sim.Options{ClientSecret: "the-right-secret", App: sim.AppPolicy{Action: sim.Ignore}}, opts, store.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if mended.Load() && req.Header.Get("client_secret") != "" {
			req.Header.Set("client_secret", "the-right-secret")
		}
		r.sim.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.start(srv.URL)

	ref1 := ref()
	r.sale(agent.SaleRequest{Reference: ref1, Amount: 4990, Customer: &agent.Customer{PersonalQR: vippsQR}})
	if c := r.attempted(ref1, 1); c.MaybeSent {
		t.Errorf("create marked maybe sent after its token call was refused (%s)", c.LastError)
	}
	if s, _ := r.agent.GetSale(ref1); s.State != agent.Queued {
		t.Errorf("sale is %s after the token call was refused, want queued: nothing was sent", s.State)
	}
	st := r.status()
	if st["online"] != true || st["auth"] != "refused" || !strings.Contains(st["lastError"].(string), "401") {
		t.Errorf("status online=%v auth=%v lastError=%q; want online, auth refused, the 401 in lastError", st["online"], st["auth"], st["lastError"])
	}
	refusals := func() int { return len(logs.Lines("level=ERROR", "refuses this box's credentials")) }
	if n := refusals(); n != 1 {
		t.Errorf("%d ERROR lines of refused credentials, want 1:\n%s", n, strings.Join(logs.Lines("level="), "\n"))
	}

	// A second sale within 5 minutes: refused again, not logged again.
	clock.Advance(time.Second)
	ref2 := ref()
	r.sale(agent.SaleRequest{Reference: ref2, Amount: 100, Customer: &agent.Customer{PersonalQR: otherQR}})
	r.attempted(ref2, 1)
	if n := refusals(); n != 1 {
		t.Errorf("%d ERROR lines after a second refusal within 5 min, want still 1", n)
	}

	// The window ends: both abandoned, without a call and without the network.
	clock.Advance(21 * time.Second)
	for _, ref := range []string{ref1, ref2} {
		s := r.waitStateOn(clock, ref, agent.Abandoned)
		if !strings.Contains(s.Message, "credentials") {
			t.Errorf("abandoned with %q, want the refused credentials named", s.Message)
		}
		if got := r.states(ref); slices.Contains(got, agent.Requested) {
			t.Errorf("POS events %v: requested although nothing was sent", got)
		}
		if _, ok := r.simPayment(ref); ok {
			t.Errorf("ePayment got a payment for %s", ref)
		}
	}

	// Still refused 5 minutes later: logged again.
	clock.Advance(5 * time.Minute)
	ref3 := ref()
	r.sale(agent.SaleRequest{Reference: ref3, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	r.attempted(ref3, 1)
	if n := refusals(); n != 2 {
		t.Errorf("%d ERROR lines 5 min after the first, want 2", n)
	}

	// The technician mends the settings: the next try goes through.
	mended.Store(true)
	clock.Advance(time.Second)
	r.waitStateOn(clock, ref3, agent.AwaitingApproval)
	if st := r.status(); st["auth"] != "accepted" || st["lastError"] != nil {
		t.Errorf("status auth=%v lastError=%v once the credentials work, want accepted and no error", st["auth"], st["lastError"])
	}
	if l := logs.Lines("level=INFO", "accepts this box's credentials again"); len(l) != 1 {
		t.Errorf("%d INFO lines of credentials accepted again, want 1", len(l))
	}
	for _, secret := range []string{"the-right-secret", "client_secret=s", "Bearer"} {
		if l := logs.Lines(secret); len(l) > 0 {
			t.Errorf("the log holds %q: %s", secret, l[0])
		}
	}
}

// Offline, a create that never left is abandoned when its window ends, at
// once, while the network is still down; not when the next probe (here a
// minute away) finds the network again.
func TestOfflineCreateAbandonedAtWindowEnd(t *testing.T) {
	opts, clock, _ := fakeTimeOptions(t, 20*time.Second)
	opts.RetryBase, opts.RetryMax = time.Minute, 10*time.Minute // probes far apart
	r := newRig(t, sim.Options{}, opts)
	r.sim.SetFault(sim.Fault{Endpoint: "*", Drop: 1}) // every connection dropped: the network is down

	// The first sale's token call is dropped: offline, and nothing left.
	ref1 := ref()
	r.sale(agent.SaleRequest{Reference: ref1, Amount: 4990, Customer: &agent.Customer{PersonalQR: vippsQR}})
	if c := r.attempted(ref1, 1); c.MaybeSent {
		t.Errorf("create marked maybe sent after its token call failed (%s)", c.LastError)
	}
	if s, _ := r.agent.GetSale(ref1); s.State != agent.Queued {
		t.Errorf("sale is %s after its token call failed, want queued", s.State)
	}
	if st := r.status(); st["online"] != false {
		t.Fatalf("status online=%v after a dropped call, want offline", st["online"])
	}

	// A second sale, 5 s later, waits for the probe without being tried.
	clock.Advance(5 * time.Second)
	ref2 := ref()
	r.sale(agent.SaleRequest{Reference: ref2, Amount: 100, Customer: &agent.Customer{PersonalQR: otherQR}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 2 { // the outbox has looked at it and sleeps
		if err := r.agent.Alive(ctx); err != nil {
			t.Fatal(err)
		}
	}

	clock.Advance(16 * time.Second) // past the first window
	r.waitStateOn(clock, ref1, agent.Abandoned)
	clock.Advance(5 * time.Second) // past the second, the probe still far
	s := r.waitStateOn(clock, ref2, agent.Abandoned)
	if !strings.Contains(s.Message, "within 20s") {
		t.Errorf("abandoned with %q, want the window named", s.Message)
	}
	for _, ref := range []string{ref1, ref2} {
		if got := r.states(ref); slices.Contains(got, agent.Requested) || got[len(got)-1] != agent.Abandoned {
			t.Errorf("POS events of %s: %v, want abandoned and never requested", ref, got)
		}
	}
	if st := r.status(); st["online"] != false {
		t.Errorf("status online=%v: the network came back during the test", st["online"])
	}
}

// A wrong MSN: the token is granted, and ePayment answers the create 403.
// That is an answer, not a lost request: nothing was applied, so the sale
// stays queued and is abandoned when its window ends (not `requested` and
// stuck on GETs answered 403 as well).
func TestCreateRefusedForCredentialsIsAbandoned(t *testing.T) {
	opts, clock, logs := fakeTimeOptions(t, 20*time.Second)
	r := newRig(t, sim.Options{MSN: "999999"}, opts) // the box sends 123456
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 4990, Customer: &agent.Customer{PersonalQR: vippsQR}})
	if c := r.attempted(ref, 1); c.MaybeSent {
		t.Errorf("create marked maybe sent after ePayment answered it %s", c.LastError)
	}
	if st := r.status(); st["auth"] != "refused" || !strings.Contains(st["lastError"].(string), "403") {
		t.Errorf("status auth=%v lastError=%v, want refused and the 403", st["auth"], st["lastError"])
	}
	clock.Advance(21 * time.Second)
	s := r.waitStateOn(clock, ref, agent.Abandoned)
	if !strings.Contains(s.Message, "credentials") {
		t.Errorf("abandoned with %q, want the refused credentials named", s.Message)
	}
	if got := r.states(ref); slices.Contains(got, agent.Requested) {
		t.Errorf("POS events %v: requested, though ePayment refused the create", got)
	}
	if n := len(logs.Lines("level=ERROR", "refuses this box's credentials")); n != 1 {
		t.Errorf("%d ERROR lines of refused credentials, want 1", n)
	}
}
