package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/device/classify"
	"github.com/tillbox/tillbox/display"
	"github.com/tillbox/tillbox/display/web"
)

// customerDisplay is the customer display of the till on its own listener:
// the hub, its feed from the agent, and the HTTP server of the page. It
// owns their goroutines: Close stops them.
type customerDisplay struct {
	hub    *display.Hub
	till   *display.Till
	srv    *http.Server
	ln     net.Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startDisplay serves the display of a's till in lang on ln, fed from a,
// until Close; only to the box's addresses and hosts (web.CheckHost).
func startDisplay(ln net.Listener, a *agent.Agent, lang string, personalQR *classify.Classifier, hosts []string, log *slog.Logger) (*customerDisplay, error) {
	o := a.Options()
	hub := display.NewHub(display.Options{Clock: o.Clock, ScanWindow: o.ScanWindow, Logger: log})
	till, err := hub.AddTill(o.Till, lang)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &customerDisplay{hub: hub, till: till, ln: ln, cancel: cancel}
	mux := http.NewServeMux()
	mux.Handle(display.Path, hub.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler(display.Path, http.StatusFound))
	d.srv = &http.Server{
		Handler:           web.CheckHost(mux, hosts),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// The scans are masked with the patterns the agent's CheckScan
	// classifies them by (the [scan] patterns of the configuration).
	d.wg.Go(func() {
		if err := display.Follow(ctx, till, a, personalQR, log); err != nil {
			log.Error("customer display stopped following the agent", "err", err)
		}
	})
	d.wg.Go(func() {
		if err := d.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("customer display", "err", err)
		}
	})
	return d, nil
}

// clients is the number of displays connected, for /metrics.
func (d *customerDisplay) clients() int { return d.till.Displays() }

// URL is the address of the page.
func (d *customerDisplay) URL() string { return "http://" + d.ln.Addr().String() + display.Path }

// Close drops the displays (their pages reconnect to the next run), stops
// the server and the feed, and waits for them.
func (d *customerDisplay) Close(ctx context.Context) error {
	d.hub.Close()
	d.cancel()
	err := d.srv.Shutdown(ctx)
	if err != nil {
		_ = d.srv.Close()
	}
	d.wg.Wait()
	return err
}
