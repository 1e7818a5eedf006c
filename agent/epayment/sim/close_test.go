package sim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment"
)

func TestCloseStopsEverything(t *testing.T) {
	base := runtime.NumGoroutine()

	// A receiver that never answers: a delivery stays in flight.
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then the server notices a closed connection
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	s := New(Options{App: AppPolicy{Action: Approve, Delay: time.Hour}, Seed: 1})
	srv := httptest.NewServer(s)
	g := &rig{t: t, sim: s, srv: srv, raw: srv.Client()}
	g.token = g.rawToken()

	g.rawCall2("POST", "/webhooks/v1/webhooks", map[string]any{"url": hang.URL + "/hook", "events": []string{"epayments.payment.created.v1"}}).want(http.StatusCreated)
	g.rawCall2("POST", "/epayment/v1/payments", createBody("close-ref-0001", 1000, phone("4712345678")), "Idempotency-Key", newKey()).want(http.StatusCreated)
	eventually(t, "delivery in flight", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, q := range s.hooks.queues {
			if q.busy {
				return true
			}
		}
		return false
	})
	// A request held by an injected latency.
	s.SetFault(Fault{Endpoint: opGetPayment, LatencyMs: 60_000})
	held := make(chan res, 1)
	go func() { held <- g.rawCall2("GET", "/epayment/v1/payments/close-ref-0001", nil) }()
	time.Sleep(20 * time.Millisecond)

	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 30*time.Second { // the held request would take 60 s
		t.Fatalf("Close took %v: it waited for the held request", d)
	}
	select {
	case r := <-held:
		if r.Err != nil || r.Status != http.StatusOK {
			t.Fatalf("held request: %v %d", r.Err, r.Status)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not release a request held by latency")
	}
	if err := s.Close(); err != nil { // twice is fine
		t.Fatal(err)
	}
	s.tmu.Lock()
	timers := len(s.timers)
	s.tmu.Unlock()
	if timers != 0 {
		t.Fatalf("%d timers left", timers)
	}
	// The simulator still answers after Close, it just owns nothing running.
	g.rawCall2("GET", "/sim/payments", nil).want(http.StatusOK)

	srv.Close()
	close(stop)
	hang.Close()
	srv.Client().CloseIdleConnections()
	eventually(t, "goroutines back to the baseline", func() bool {
		return runtime.NumGoroutine() <= base
	})
}

func TestCloseWithFakeClock(t *testing.T) {
	fc := clock.NewFake(testStart)
	s := New(Options{Clock: fc, App: AppPolicy{Action: Approve, Delay: time.Minute}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	g := &rig{t: t, sim: s, srv: srv, raw: srv.Client(), clock: fc}
	g.token = g.rawToken()
	g.rawCall2("POST", "/epayment/v1/payments", createBody("close-ref-0002", 1000, phone("4712345678")), "Idempotency-Key", newKey()).want(http.StatusCreated)
	if fc.Timers() != 2 { // the app's decision and the expiry
		t.Fatalf("%d timers pending, want 2", fc.Timers())
	}
	s.Close()
	if fc.Timers() != 0 {
		t.Fatalf("%d timers left on the clock after Close", fc.Timers())
	}
	fc.Advance(time.Hour)
	if p, _ := s.Payment("", "close-ref-0002"); p.State != epayment.StateCreated {
		t.Fatalf("a timer fired after Close: %s", p.State)
	}
}

// rawToken and rawCall2 work without spec validation, for rigs built by hand.
func (g *rig) rawToken() string {
	g.t.Helper()
	var tr epayment.TokenResponse
	g.rawCall2("POST", "/accesstoken/get", nil, "client_id", testClientID, "client_secret", testSecret, "Authorization", "-").want(http.StatusOK).decode(&tr)
	return tr.AccessToken
}

func (g *rig) rawCall2(method, path string, body any, hdr ...string) res {
	g.t.Helper()
	return g.send(nil, method, path, body, hdr...)
}
