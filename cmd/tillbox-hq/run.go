package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/version"
	"github.com/tillbox/tillbox/cmd/internal/cli"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/actions"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqmetrics"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqnats"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/ingest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/refunds"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/relay"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/settings"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/tokens"
)

const runUsage = `Usage: tillbox-hq run [--config FILE] [--listen ADDR]

Consumes every box's journal and heartbeats from NATS JetStream into
PostgreSQL, relays Vipps MobilePay webhooks to the boxes, and serves
/webhooks/vipps/{msn}, /healthz, /readyz and /metrics. It starts while
PostgreSQL or NATS are down and waits for them (/readyz says so). It hands
the boxes their sales unit's access token (the token broker); SIGHUP
re-reads the units' credentials from the file.

Flags:
`

// runRun is `tillbox-hq run`.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", hqconfig.DefaultPath, "the configuration file")
	listen := fs.String("listen", "", "listen on this address instead of http.listen (e.g. 127.0.0.1:0)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), runUsage); fs.PrintDefaults() }
	if _, err := cli.ParseArgs(fs, args, stdout); err != nil {
		return err
	}
	c, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	if *listen != "" {
		c.HTTP.Listen = *listen
	}
	m := &Main{Config: c, ConfigPath: *path, Stdout: stdout, LogOut: stdout}
	return m.Run(ctx)
}

// loadConfig loads the file and prints each problem on w.
func loadConfig(path string, w io.Writer) (*hqconfig.Config, error) {
	c, err := hqconfig.Load(path)
	var ce *hqconfig.Error
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			fmt.Fprintln(w, p)
		}
		return nil, fmt.Errorf("%s: %d problem(s)", path, len(ce.Problems))
	}
	return c, err
}

// Main is one headquarters process.
type Main struct {
	Config         *hqconfig.Config
	Stdout, LogOut io.Writer
	// ConfigPath is the file SIGHUP re-reads the token broker's
	// credentials from (tokens.go); "": no reload.
	ConfigPath string

	log     *slog.Logger
	ln      net.Listener
	db      *hqdb.DB
	nc      *nats.Conn
	js      jetstream.JetStream
	metrics *hqmetrics.Metrics
	routes  *relay.Routes
	actions *actions.Runner    // remote technician actions (internal/actions)
	layers  *settings.Settings // the layered settings (issue 14)
	tokens  *tokens.Broker     // the token broker (issue 15, tokens.go)
	hup     chan os.Signal     // SIGHUP: re-read the token broker's credentials

	// ReconToken is the Report API's access token of a sales unit, for the
	// reconciliation (recon.go); nil: the reconciliation is off.
	ReconToken ReconToken

	migrated, streams atomic.Bool
	ready             chan struct{}
	addr              atomic.Value // net.Addr
}

// Addr is the HTTP listener's address, once Ready is closed.
func (m *Main) Addr() net.Addr { a, _ := m.addr.Load().(net.Addr); return a }

// Ready is closed once the HTTP listener accepts connections.
func (m *Main) Ready() <-chan struct{} { return m.ready }

// Run serves until ctx ends, then shuts down in two phases within
// hq.shutdown_timeout: the HTTP server stops taking webhooks and lets
// those in flight be published; then the consumers finish the batch they
// write and stop, and the connections close.
func (m *Main) Run(ctx context.Context) error {
	if m.ready == nil {
		m.ready = make(chan struct{})
	}
	if err := m.open(); err != nil {
		m.close()
		return err
	}
	h, err := m.handler()
	if err != nil {
		m.close()
		return err
	}
	defer m.close()
	srv, serveDone := m.startHTTP(h)
	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	var work sync.WaitGroup
	work.Go(func() { m.work(workCtx) })
	work.Go(func() { m.runTokens(workCtx) }) // the token broker (tokens.go)
	close(m.ready)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveDone:
		serveDone = nil
		runErr = fmt.Errorf("serving %s: %w", m.ln.Addr(), err)
	}
	timeout := m.Config.HQ.ShutdownTimeout.D()
	m.log.Info("shutting down: finishing the webhooks and the batch in flight", "timeout", timeout)
	shutCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
		runErr = errors.Join(runErr, fmt.Errorf("shutdown: requests still in flight after %s", timeout))
	}
	if serveDone != nil {
		if err := <-serveDone; !errors.Is(err, http.ErrServerClosed) {
			runErr = errors.Join(runErr, err)
		}
	}
	m.actions.Close(shutCtx) // the actions waiting for a box: recorded as not answered
	stopWork()
	done := make(chan struct{})
	go func() { work.Wait(); close(done) }()
	select {
	case <-done:
	case <-shutCtx.Done():
		return errors.Join(runErr, fmt.Errorf("shutdown: the consumers did not stop within %s", timeout))
	}
	m.log.Info("tillbox-hq stopped")
	return runErr
}

// open makes the logger, the PostgreSQL pool and the NATS connection
// (neither needs its server up yet) and listens.
func (m *Main) open() error {
	c := m.Config
	m.log = newLogger(m.LogOut, c.LogLevel())
	for _, w := range c.Warnings {
		m.log.Warn("configuration", "problem", w)
	}
	db, err := hqdb.Open(context.Background(), c.Postgres.DSN.Reveal())
	if err != nil {
		return err
	}
	m.db = db
	nc, err := hqnats.Connect(&c.NATS, m.log.With("component", "nats"))
	if err != nil {
		return err
	}
	m.nc = nc
	if m.js, err = jetstream.New(nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	m.ln, err = net.Listen("tcp", c.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	m.addr.Store(m.ln.Addr())
	m.metrics = hqmetrics.New(func(ctx context.Context) ([]hqdb.TillState, error) {
		return m.db.TillStates(ctx, c.HQ.Chain)
	}, c.HQ.HeartbeatInterval.D(), time.Now, m.log)
	m.layers = settings.New(settings.Options{JS: m.js, Chain: c.HQ.Chain, Boxes: boxesOf(m.db, c.HQ.Chain)})
	m.watchAlerts()
	m.watchRecon() // the reconciliation's differences (recon.go)
	m.routes = relay.NewRoutes(func(ctx context.Context) ([]hqdb.Route, error) {
		return m.db.Routes(ctx, c.HQ.Chain)
	}, 15*time.Second, m.log.With("component", "routes"))
	m.actions = actions.New(actions.Options{NC: nc, DB: db, Chain: c.HQ.Chain, Logger: m.log.With("component", "actions")})
	return m.openTokens() // the token broker (tokens.go)
}

// close closes what open opened.
func (m *Main) close() {
	if m.ln != nil {
		_ = m.ln.Close()
	}
	if m.nc != nil {
		m.nc.Close()
	}
	if m.db != nil {
		m.db.Close()
	}
}

// startHTTP serves the listener.
func (m *Main) startHTTP(h http.Handler) (*http.Server, chan error) {
	c := m.Config
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	scheme := "http"
	if c.HTTP.CertFile != "" {
		scheme = "https"
		go func() { done <- srv.ServeTLS(m.ln, c.HTTP.CertFile, c.HTTP.KeyFile) }()
	} else {
		go func() { done <- srv.Serve(m.ln) }()
	}
	msns := make([]string, len(c.Units))
	for i, u := range c.Units {
		msns[i] = u.MSN
	}
	m.log.Info("tillbox-hq running", "pid", os.Getpid(), "version", version.String(), "chain", c.HQ.Chain,
		"listen", m.ln.Addr().String(), "nats", c.NATS.Servers, "units", msns)
	fmt.Fprintf(m.Stdout, "tillbox-hq: listening on %s://%s (fleet page at /, webhooks on /webhooks/vipps/{msn}, /healthz, /readyz, /metrics)\n",
		scheme, m.ln.Addr())
	return srv, done
}

// work makes sure of the schema and the streams, waiting for PostgreSQL
// and NATS as long as it takes, then runs the consumers and the routes'
// refresh until ctx ends.
func (m *Main) work(ctx context.Context) {
	c, log := m.Config, m.log
	retry(ctx, log, "PostgreSQL schema", func(ctx context.Context) error {
		applied, err := m.db.Migrate(ctx)
		if len(applied) > 0 {
			log.Info("schema migrations applied", "versions", applied)
		}
		return err
	})
	if ctx.Err() != nil {
		return
	}
	m.migrated.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() { _ = m.routes.Run(ctx) })
	wg.Go(func() { m.runAlerts(ctx) })
	wg.Go(func() { m.runRecon(ctx) }) // recon.go
	retry(ctx, log, "NATS streams", func(ctx context.Context) error {
		if err := hqnats.EnsureStreams(ctx, m.js, hqnats.StreamsOf(c)); err != nil {
			return err
		}
		return refunds.EnsureStream(ctx, m.js, hqnats.StreamsOf(c)) // refund anywhere in the chain
	})
	if ctx.Err() == nil {
		m.streams.Store(true)
		o := ingest.Options{JS: m.js, DB: m.db, Metrics: m.metrics, Log: log.With("component", "ingest")}
		wg.Go(func() { _ = ingest.Journal(ctx, o) })
		wg.Go(func() { _ = ingest.Heartbeats(ctx, o) })
		wg.Go(func() {
			_ = refunds.Run(ctx, refunds.Options{Chain: c.HQ.Chain, JS: m.js, Pool: m.db.Pool(),
				Log: log.With("component", "refunds"), Heartbeat: c.HQ.HeartbeatInterval.D()})
		})
	}
	wg.Wait()
}

// retry calls f until it succeeds or ctx ends, waiting up to 5 s between
// tries; the first failure and every tenth are logged.
func retry(ctx context.Context, log *slog.Logger, what string, f func(context.Context) error) {
	wait := 250 * time.Millisecond
	for n := 1; ; n++ {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := f(tctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		if n == 1 || n%10 == 0 {
			log.Warn("waiting to try again", "what", what, "err", err, "tries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}
