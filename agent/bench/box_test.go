package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// The sales unit every benchmark uses.
const (
	benchMSN      = "123456"
	benchClientID = "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"
	benchTill     = "till1"
	posToken      = epayment.Secret("bench-pos-token")
)

// newVipps makes the ePayment client as `tillbox run` does: the given base
// URL, an http.Client with a timeout over the default transport.
func newVipps(baseURL string) (*epayment.Client, error) {
	return epayment.New(epayment.Config{BaseURL: baseURL, ClientID: benchClientID,
		ClientSecret: "bench-secret", SubscriptionKey: "bench-key", MSN: benchMSN,
		HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

// loopbackClient is a client for the loopback servers of the benchmarks:
// the POS API and the simulator's control API.
func loopbackClient() *http.Client { return &http.Client{Timeout: time.Minute} }

// box is one till in this process: a store file, an agent over it, and the
// agent's loops, which run from start until stop.
type box struct {
	db    *store.DB
	agent *agent.Agent

	cancel   context.CancelFunc
	loops    sync.WaitGroup
	runErr   error
	stopOnce sync.Once
	stopErr  error
}

// openBox opens the store at path and makes an agent over it talking to
// vippsURL. The agent's loops do not run until start.
func openBox(tb testing.TB, path string, so store.Options, vippsURL string, o agent.Options) *box {
	tb.Helper()
	db := storetest.Open(tb, path, so)
	x, err := newBox(db, vippsURL, o)
	if err != nil {
		db.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := x.stop(); err != nil {
			tb.Error(err)
		}
	})
	return x
}

func newBox(db *store.DB, vippsURL string, o agent.Options) (*box, error) {
	vipps, err := newVipps(vippsURL)
	if err != nil {
		return nil, err
	}
	o.MSN, o.Till = benchMSN, benchTill
	a, err := agent.New(db, vipps, o)
	if err != nil {
		return nil, err
	}
	return &box{db: db, agent: a}, nil
}

// start runs the agent's loops (reconciliation first) until stop.
func (x *box) start() {
	ctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	x.loops.Go(func() { x.runErr = x.agent.Run(ctx) })
}

// stop ends the loops, waits for them and closes the store. It is
// idempotent; the first call's error is kept.
func (x *box) stop() error {
	x.stopOnce.Do(func() {
		if x.cancel != nil {
			x.cancel()
			x.loops.Wait()
		}
		if x.runErr != nil {
			x.stopErr = fmt.Errorf("agent.Run: %w", x.runErr)
		}
		if err := x.db.Close(); err != nil && x.stopErr == nil {
			x.stopErr = err
		}
	})
	return x.stopErr
}

// deadURL is a loopback URL where nothing listens: every call to it fails at
// once with "connection refused", as when the box's network is down.
func deadURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	return "http://" + addr
}

// serve serves h on loopback until the test ends; it returns the base URL.
func serve(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}
