package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/display/technician"
	"github.com/tillbox/tillbox/display/web"
)

// technicianPage is the technician page on its own listener. Close stops
// its server and its watching of the agent.
type technicianPage struct {
	scheme  string // http or https
	console *technician.Console
	srv     *http.Server
	ln      net.Listener
	wg      sync.WaitGroup
}

// startTechnician serves the console o describes on ln until Close, over
// TLS when tlsCfg is set; only to the box's addresses and hosts
// (web.CheckHost).
func startTechnician(ln net.Listener, tlsCfg *tls.Config, o technician.Options, hosts []string, log *slog.Logger) (*technicianPage, error) {
	o.Logger = log
	c, err := technician.New(o)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(technician.Path, c.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler(technician.Path, http.StatusFound))
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	t := &technicianPage{scheme: scheme(tlsCfg), console: c, ln: ln, srv: &http.Server{
		Handler:           web.CheckHost(mux, hosts),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	t.wg.Go(func() {
		if err := t.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("technician page", "err", err)
		}
	})
	return t, nil
}

// URL is the address of the page.
func (t *technicianPage) URL() string {
	return t.scheme + "://" + t.ln.Addr().String() + technician.Path
}

// Close stops the server and the console.
func (t *technicianPage) Close(ctx context.Context) error {
	err := t.srv.Shutdown(ctx)
	if err != nil {
		_ = t.srv.Close()
	}
	t.wg.Wait()
	t.console.Close()
	return err
}

// testPaymentsAllowed tells whether the technician page may make test
// payments: only against the Vipps MobilePay test environment or a
// simulator (vipps.base_url), never the production host.
func testPaymentsAllowed(c *config.Config) bool {
	prod, _ := url.Parse(epayment.ProductionBaseURL)
	u, err := url.Parse(c.BaseURL())
	if err != nil || strings.EqualFold(strings.TrimSuffix(u.Hostname(), "."), prod.Hostname()) {
		return false
	}
	return c.Vipps.Environment == "test" || c.Vipps.Environment == "" && c.Vipps.BaseURL != ""
}
