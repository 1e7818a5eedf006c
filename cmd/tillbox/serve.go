package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/agent/version"
)

// newServer is an HTTP server of the POS API's listener or of /metrics on
// its own: every server of the box's API has these timeouts.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A long-poll extends its own write deadline to its wait.
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// running is what serve started and shutdown stops, in two phases.
type running struct {
	srv         *http.Server
	serveDone   chan error
	endRequests context.CancelFunc // ends reqCtx: long-polls and streams
	inflight    sync.WaitGroup

	metricsSrv  *http.Server
	metricsDone chan error // nil, never ready, without its own listener

	agentDone chan error
	stopAgent context.CancelFunc

	besideDone chan error // nil without Main.beside
	stopBeside context.CancelFunc

	scans *scanReader
	sd    *systemd

	serving, agentRunning, besideRunning bool
}

// serve runs the agent's loops and the HTTP server until ctx ends (or one
// of them fails, or the demo's work beside them ends), then shuts all down
// in two phases.
func (m *Main) serve(ctx context.Context) error {
	r := m.start()
	defer r.endRequests()
	defer r.stopAgent()
	defer r.stopBeside()
	defer r.sd.stopping()

	var runErr error
	select {
	case <-ctx.Done():
	case <-m.restart:
		m.log.Info("restarting (asked on the technician page)")
		runErr = errRestart
		r.sd.reloading()
	case err := <-r.serveDone:
		r.serving = false
		runErr = fmt.Errorf("serving %s: %w", m.ln.Addr(), err)
	case err := <-r.metricsDone:
		r.metricsDone = nil
		runErr = fmt.Errorf("serving metrics on %s: %w", m.metricsLn.Addr(), err)
	case err := <-r.agentDone:
		r.agentRunning = false
		runErr = fmt.Errorf("agent: %w", err)
		if err == nil {
			runErr = errors.New("agent: stopped by itself")
		}
	case err := <-r.besideDone:
		r.besideRunning = false
		runErr = err // the demo's --once: its first sale ended (nil) or not
	}
	return m.shutdown(r, runErr)
}

// start starts the agent's loops, the servers, the scan reader and the
// demo's work beside them, prints where the box serves, and closes ready.
func (m *Main) start() *running {
	log, a := m.log, m.agent
	r := &running{serving: true, agentRunning: true, stopBeside: func() {}}
	// Requests see reqCtx: it ends at shutdown, which ends long-polls and
	// WebSocket streams (hijacked, so Shutdown does not wait for them; the
	// tracker does).
	reqCtx, endRequests := context.WithCancel(context.Background())
	r.endRequests = endRequests
	r.srv = newServer(track(&r.inflight, m.handler(log)), log)
	r.srv.BaseContext = func(net.Listener) context.Context { return reqCtx }

	agentCtx, stopAgent := context.WithCancel(context.Background())
	r.stopAgent = stopAgent
	r.agentDone = make(chan error, 1)
	go func() { r.agentDone <- a.Run(agentCtx) }()
	m.startFleet() // fleet.go
	r.serveDone = make(chan error, 1)
	go func() { r.serveDone <- r.srv.Serve(m.ln) }()
	if m.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.metricsHandler(log))
		r.metricsSrv = newServer(mux, log)
		r.metricsDone = make(chan error, 1)
		go func() { r.metricsDone <- r.metricsSrv.Serve(m.metricsLn) }()
	}
	r.scans = readScans(m.scanners, a, log.With("component", "scanners"), m.scanOut)

	c := m.Config
	log.Info("tillbox running", "pid", os.Getpid(), "version", version.String(), "listen", m.ln.Addr().String(), "db", c.DBPath(),
		"vipps", c.BaseURL(), "msn", c.Vipps.MSN, "till", c.Box.Till, "webhooks", c.Vipps.WebhookURL != "")
	if m.beside == nil {
		m.notices()
	}
	close(m.ready)
	r.sd = startSystemd(a, log.With("component", "systemd")) // sdnotify.go
	if m.beside != nil {
		besideCtx, stop := context.WithCancel(context.Background())
		r.stopBeside, r.besideRunning = stop, true
		r.besideDone = make(chan error, 1)
		go func() { r.besideDone <- m.beside(besideCtx) }()
	}
	return r
}

// notices tells on stdout where the box serves.
func (m *Main) notices() {
	c, ln := m.Config, m.ln
	base := scheme(m.tls) + "://" + ln.Addr().String()
	fmt.Fprintf(m.stdout, "tillbox: POS API on %s/api/v1/ (OpenAPI: %s%s), webhooks on %s/webhooks/vipps\n",
		base, base, posapi.PathOpenAPI, base)
	if m.tls != nil {
		m.log.Info("TLS on the POS API and the technician page", "fingerprint", m.tlsPrint, "mode", c.TLS.Mode)
		fmt.Fprintf(m.stdout, "tillbox: TLS certificate SHA-256 %s (pin it: tillbox pos --pin)\n", m.tlsPrint)
	}
	if m.display != nil {
		fmt.Fprintf(m.stdout, "tillbox: customer display on %s\n", m.display.URL())
	}
	if m.tech != nil {
		fmt.Fprintf(m.stdout, "tillbox: technician page on %s\n", m.tech.URL())
	}
	if m.metricsLn != nil {
		fmt.Fprintf(m.stdout, "tillbox: metrics on http://%s/metrics\n", m.metricsLn.Addr())
	}
}

// shutdown stops what start started, in two phases within
// box.shutdown_timeout, and returns runErr with what went wrong on the way.
func (m *Main) shutdown(r *running, runErr error) error {
	c, log := m.Config, m.log
	r.sd.stopping()
	// A new sale now gets 503 shutting_down (with Retry-After), also on a
	// connection kept alive; sales already taken go on.
	m.agent.StopSales()
	log.Info("shutting down: no new sales; finishing the requests and calls in flight", "timeout", c.Box.ShutdownTimeout.D())

	// Phase one: stop accepting, let requests in flight finish; long-polls
	// and streams get a moment, then their context ends.
	timeout := c.Box.ShutdownTimeout.D()
	shutCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	runErr = errors.Join(runErr, m.stopServing(shutCtx, r, timeout))

	// Phase two: stop the scanners, then the agent's loops; queued
	// commands stay in the store.
	m.scanners.Close()
	r.scans.wait()
	runErr = errors.Join(runErr, m.stopFleet()) // fleet.go
	r.stopAgent()
	if r.agentRunning {
		select {
		case err := <-r.agentDone:
			runErr = errors.Join(runErr, err)
		case <-shutCtx.Done():
			// Leave the store open: the loops may still use it. The
			// process is about to end, and with it the file lock.
			m.db = nil
			return errors.Join(runErr, fmt.Errorf("shutdown: the agent did not stop within %s", timeout))
		}
	}
	log.Info("tillbox stopped")
	return runErr
}

// stopServing is phase one: the demo's work beside, the servers, the
// requests and streams in flight, the customer display and the technician
// page stop.
func (m *Main) stopServing(shutCtx context.Context, r *running, timeout time.Duration) error {
	var errs []error
	r.stopBeside()
	if r.besideRunning {
		if err := <-r.besideDone; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	grace := time.AfterFunc(min(time.Second, timeout/2), r.endRequests)
	defer grace.Stop()
	if err := r.srv.Shutdown(shutCtx); err != nil {
		_ = r.srv.Close()
		errs = append(errs, fmt.Errorf("shutdown: requests still in flight after %s", timeout))
	}
	r.endRequests()
	if r.serving {
		if err := <-r.serveDone; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if r.metricsSrv != nil {
		if err := r.metricsSrv.Shutdown(shutCtx); err != nil {
			_ = r.metricsSrv.Close() // a scrape still in flight: it holds nothing to finish
		}
		if r.metricsDone != nil {
			if err := <-r.metricsDone; !errors.Is(err, http.ErrServerClosed) {
				errs = append(errs, fmt.Errorf("metrics: %w", err))
			}
		}
	}
	if !waitGroup(shutCtx, &r.inflight) {
		errs = append(errs, fmt.Errorf("shutdown: streams still open after %s", timeout))
	}
	if m.display != nil {
		if err := m.display.Close(shutCtx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: customer display: %w", err))
		}
		m.display = nil
	}
	if m.tech != nil {
		if err := m.tech.Close(shutCtx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: technician page: %w", err))
		}
		m.tech = nil
	}
	return errors.Join(errs...)
}

// track counts the requests in flight, hijacked ones included.
func track(wg *sync.WaitGroup, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		h.ServeHTTP(w, r)
	})
}

// waitGroup waits for wg until ctx ends; false when ctx ended first.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
