package agent_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

// outage serves the simulator on one loopback address that can be taken
// down (connections refused) and brought back on the same port.
type outage struct {
	t    testing.TB
	h    http.Handler
	addr string
	mu   sync.Mutex
	srv  *http.Server
	done chan struct{}
}

func newOutage(t testing.TB, h http.Handler) *outage {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &outage{t: t, h: h, addr: ln.Addr().String()}
	o.serve(ln)
	t.Cleanup(o.down)
	return o
}

func (o *outage) url() string { return "http://" + o.addr }

func (o *outage) serve(ln net.Listener) {
	o.srv, o.done = &http.Server{Handler: o.h}, make(chan struct{})
	srv, done := o.srv, o.done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			o.t.Errorf("serve: %v", err)
		}
	}()
}

// down closes the listener and every connection: calls are refused.
func (o *outage) down() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.srv == nil {
		return
	}
	o.srv.Close()
	<-o.done
	o.srv = nil
}

// up listens on the same address again.
func (o *outage) up() {
	o.mu.Lock()
	defer o.mu.Unlock()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		o.t.Fatalf("listen again on %s: %v", o.addr, err)
	}
	o.serve(ln)
}

// TestQueueDrainsOnceVippsAnswersAgain: after a long outage the queued create
// has backed off to RetryMax (a minute), yet it goes within about a second of
// Vipps MobilePay answering again, because the agent probes the host while
// commands wait. The agent's clock is fake, so "a second" is exact: the test
// moves it by at most 10 s after the network is back, far less than the
// back-off the create was left with.
func TestQueueDrainsOnceVippsAnswersAgain(t *testing.T) {
	clock := clock.NewFake(time.Now())
	o := fast()
	o.Clock = clock
	o.RetryBase, o.RetryMax = time.Second, time.Minute
	o.CustomerPresentWindow = time.Hour
	r := idleRig(t, sim.Options{App: sim.AppPolicy{Action: sim.Approve, Delay: 10 * time.Millisecond}}, o, store.Options{})
	vipps := newOutage(t, r.sim)
	vipps.down()
	r.start(vipps.url())
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})

	// The outage lasts: each minute the create is tried once more and fails,
	// until its back-off is at its cap.
	attempts := func() int {
		n := -1
		if err := r.db.View(func(tx *store.Tx) error {
			cs, err := tx.CommandsFor(ref)
			if len(cs) > 0 {
				n = cs[0].Attempts
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for attempts() < 8 {
		before := attempts()
		clock.Advance(time.Minute)
		// The outbox may set its timer just after the clock moved: move
		// it on until the attempt is made.
		agenttest.Until(t, "the next attempt of the create", func() bool {
			if attempts() > before {
				return true
			}
			clock.Advance(time.Second)
			return false
		})
	}
	if st, _ := r.agent.Status(); st.Online {
		t.Fatal("the agent is online during the outage")
	}

	vipps.up()
	sent := func() bool { _, ok := r.simPayment(ref); return ok }
	for moved := time.Duration(0); moved < 10*time.Second && !sent(); moved += 100 * time.Millisecond {
		clock.Advance(100 * time.Millisecond)
		time.Sleep(10 * time.Millisecond) // let the probe's answer come in (real time)
	}
	agenttest.Until(t, "the queued create to reach Vipps MobilePay after the outage", sent)
	if st, _ := r.agent.Status(); !st.Online {
		t.Error("the agent is still offline after the outage")
	}
}

// TestProbeSaysNothingOfCredentials: a probe's answer after an outage turns
// the agent online, but credentials refused before the outage stay refused:
// the probe carries none.
func TestProbeSaysNothingOfCredentials(t *testing.T) {
	clock := clock.NewFake(time.Now())
	o := fast()
	o.Clock = clock
	o.RetryBase, o.RetryMax = time.Second, time.Minute
	o.CustomerPresentWindow = time.Hour
	r := idleRig(t, sim.Options{ClientSecret: "the-right-secret", App: sim.AppPolicy{Action: sim.Ignore}}, o, store.Options{})
	vipps := newOutage(t, r.sim)
	r.start(vipps.url())
	r.sale(agent.SaleRequest{Reference: ref(), Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	status := func() agent.Status {
		st, err := r.agent.Status()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	agenttest.Until(t, "the credentials refused", func() bool { return status().Auth == agent.AuthRefused })

	vipps.down()
	agenttest.Until(t, "the agent offline", func() bool {
		clock.Advance(time.Second)
		return !status().Online
	})
	vipps.up()
	agenttest.Until(t, "the agent online after the outage", func() bool {
		clock.Advance(100 * time.Millisecond)
		return status().Online
	})
	if st := status(); st.Auth != agent.AuthRefused {
		t.Errorf("after the probe's answer: auth %q, want %q (a probe carries no credentials)", st.Auth, agent.AuthRefused)
	}
}

// TestRetryAfterOutlivesAnOutage: a create answered 429 with Retry-After 50 s
// keeps that wait when a short outage ends meanwhile: only commands whose
// last attempt got no answer go at once when the network is back.
func TestRetryAfterOutlivesAnOutage(t *testing.T) {
	clock := clock.NewFake(time.Now())
	o := fast()
	o.Clock = clock
	o.RetryBase, o.RetryMax = time.Second, time.Minute
	o.CustomerPresentWindow = time.Hour
	r := idleRig(t, sim.Options{App: sim.AppPolicy{Action: sim.Ignore}}, o, store.Options{})
	s := r.sim
	limited := ref()
	var mu sync.Mutex
	var refusedAt, againAt time.Time
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/epayment/v1/payments" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte(limited)) {
				mu.Lock()
				first := refusedAt.IsZero()
				if first {
					refusedAt = clock.Now()
				} else if againAt.IsZero() {
					againAt = clock.Now()
				}
				mu.Unlock()
				if first {
					w.Header().Set("Retry-After", "50")
					w.Header().Set("Content-Type", "application/problem+json")
					w.WriteHeader(http.StatusTooManyRequests)
					_, _ = w.Write([]byte(`{"status":429,"title":"Too Many Requests"}`))
					return
				}
			}
		}
		s.ServeHTTP(w, r)
	})
	vipps := newOutage(t, h)
	r.start(vipps.url())
	r.sale(agent.SaleRequest{Reference: limited, Amount: 100, Customer: &agent.Customer{PersonalQR: vippsQR}})
	agenttest.Until(t, "the 429", func() bool { mu.Lock(); defer mu.Unlock(); return !refusedAt.IsZero() })

	// A second sale meets the outage; the probes fail, then the network is
	// back and the second sale's create goes at once.
	vipps.down()
	other := ref()
	r.sale(agent.SaleRequest{Reference: other, Amount: 100, Customer: &agent.Customer{PersonalQR: otherQR}})
	agenttest.Until(t, "the agent offline", func() bool {
		st, err := r.agent.Status()
		return err == nil && !st.Online
	})
	for range 3 {
		clock.Advance(time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	vipps.up()
	agenttest.Until(t, "the second sale's create after the outage", func() bool {
		clock.Advance(100 * time.Millisecond)
		_, ok := r.simPayment(other)
		return ok
	})
	mu.Lock()
	defer mu.Unlock()
	if !againAt.IsZero() && againAt.Sub(refusedAt) < 50*time.Second {
		t.Errorf("the create answered 429 with Retry-After 50 s went again %v later", againAt.Sub(refusedAt))
	}
}
