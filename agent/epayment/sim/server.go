package sim

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent/clock"
)

// Server is the simulator: an http.Handler serving the Vipps MobilePay APIs at
// their real paths plus the /sim control API. Serve it with httptest.NewServer
// or an http.Server on loopback; Close it when done.
type Server struct {
	opts  Options
	clock clock.Clock
	log   *slog.Logger
	mux   *http.ServeMux
	// apiPaths are the simulated APIs' path patterns, split at "/", for
	// matching paths of another case (apipath.go).
	apiPaths [][]string

	// ctx is cancelled by Close; deliveries and injected latencies watch it.
	ctx    context.Context
	cancel context.CancelFunc

	rngMu sync.Mutex
	rng   *rand.Rand

	limiter *rateLimiter

	// mu guards the state of the simulated world below.
	mu       sync.Mutex
	tokens   map[string]time.Time // access token -> expiry (sim clock)
	payments map[payKey]*payment
	refs     map[string][]*payment // reference -> its payments under every MSN, oldest first
	idem     map[idemKey]*idemRecord
	swept    time.Time // when the retention sweep last ran (sim clock)
	users    *userTable
	app      appPolicies
	faults   map[string]*faultState
	hooks    webhookState
	orders   map[orderKey]*order
	pspBase  uint64 // pspReferences are pspBase+1, pspBase+2, ...
	pspSeq   uint64
	report   reportState // the settlement ledger (reportbook.go)

	// Timers and delivery workers: every one is owned here and ends in Close.
	tmu     sync.Mutex
	timers  map[*simTimer]struct{}
	closed  bool
	running sync.WaitGroup // timer functions in progress
	workers sync.WaitGroup // delivery workers

	closeOnce sync.Once
}

// New returns a simulator configured by opts, with its webhook delivery workers
// running. Close stops them.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:     opts,
		clock:    opts.Clock,
		log:      opts.Logger,
		ctx:      ctx,
		cancel:   cancel,
		rng:      rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x9e3779b97f4a7c15)),
		limiter:  newRateLimiter(),
		tokens:   make(map[string]time.Time),
		payments: make(map[payKey]*payment),
		refs:     make(map[string][]*payment),
		idem:     make(map[idemKey]*idemRecord),
		users:    newUserTable(opts.Clock.Now()),
		app:      newAppPolicies(opts.App),
		faults:   make(map[string]*faultState),
		orders:   make(map[orderKey]*order),
		timers:   make(map[*simTimer]struct{}),
		pspBase:  1_000_000_000 + rand.Uint64N(8_000_000_000),
	}
	s.hooks.init(opts)
	s.routes()
	s.startDeliveryWorkers()
	return s
}

// ServeHTTP serves the Vipps MobilePay APIs and the /sim control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, s.withAPIPath(r))
}

// Close stops every timer and delivery the simulator owns and waits for the
// goroutines running them. It does not close the http.Server serving it.
// Close is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.tmu.Lock()
		s.closed = true
		for t := range s.timers {
			t.stop()
		}
		clear(s.timers)
		s.tmu.Unlock()

		s.cancel()
		s.wakeWorkers()
		s.workers.Wait()
		s.running.Wait()
		s.hooks.closeIdle()
	})
	return nil
}

type simTimer struct {
	stop func() bool
}

// after runs f on the simulator's clock once d has passed, unless Close or the
// returned stop comes first. f runs with no lock held.
func (s *Server) after(d time.Duration, f func()) (stop func()) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.closed {
		return func() {}
	}
	t := &simTimer{}
	s.timers[t] = struct{}{}
	t.stop = s.clock.AfterFunc(d, func() {
		s.tmu.Lock()
		if _, ok := s.timers[t]; !ok || s.closed {
			s.tmu.Unlock()
			return
		}
		delete(s.timers, t)
		s.running.Add(1)
		s.tmu.Unlock()
		defer s.running.Done()
		f()
	})
	return func() {
		s.tmu.Lock()
		defer s.tmu.Unlock()
		if _, ok := s.timers[t]; ok {
			delete(s.timers, t)
			t.stop()
		}
	}
}

// now is the simulator's time, in UTC.
func (s *Server) now() time.Time { return s.clock.Now().UTC() }

// random returns a number in [0, 1) from the seeded source.
func (s *Server) random() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64()
}

// randomN returns a number in [0, n).
func (s *Server) randomN(n int) int {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.IntN(n)
}
