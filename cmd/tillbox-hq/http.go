package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/cmd/internal/cli"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/alerts"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetpage"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/relay"
)

// handler is everything headquarters serves over HTTP: the fleet page at
// / (when [[user]]s are configured), the webhook relay, /healthz, /readyz
// and /metrics.
func (m *Main) handler() (http.Handler, error) {
	c := m.Config
	units := map[string]relay.Unit{}
	for _, u := range c.Units {
		units[u.MSN] = relay.Unit{URL: u.WebhookURL, Secret: u.WebhookSecret}
	}
	mux := http.NewServeMux()
	mux.Handle(relay.Pattern, relay.New(c.HQ.Chain, units, m.js, m.routes, m.metrics, m.log.With("component", "relay")))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", m.readyz)
	mux.Handle("GET /metrics", m.metrics.Handler())
	if len(c.Users) == 0 {
		m.log.Warn("no [[user]] configured: the fleet page is off")
		return mux, nil
	}
	users := map[string]string{}
	for _, u := range c.Users {
		users[u.Name] = u.PasswordHash.Reveal()
	}
	page, err := fleetpage.New(hqdb.Fleet{DB: m.db, Chain: c.HQ.Chain, Location: c.Location()}, fleetpage.Options{
		Users: users, Heartbeat: c.HQ.HeartbeatInterval.D(), Logger: m.log.With("component", "fleetpage"),
		Location: c.Location(), SecureCookies: c.HTTP.SecureCookies || c.HTTP.CertFile != "", Hosts: c.HTTP.Hosts,
		Alerts:   alerts.Page{Store: m.alertStore()},
		Refunds:  m.refundSource(), // cross-store refunds (refunds_page.go)
		Actions:  m.actions,
		Settings: m.layers,
		Tokens:   m.tokens,            // the token broker (tokens.go)
		Recon:    reconStore(m.db, c), // recon.go
	})
	if err != nil {
		return nil, err
	}
	mux.Handle("/", page)
	return mux, nil
}

// readiness is the body of /readyz.
type readiness struct {
	Ready    bool   `json:"ready"`
	Postgres string `json:"postgres"`
	NATS     string `json:"nats"`
}

// readyz answers 200 when PostgreSQL answers with every migration applied
// and NATS is connected with the streams in place, else 503; the body
// says which is not.
func (m *Main) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	rd := readiness{Postgres: "ok", NATS: "ok"}
	switch err := m.db.Ready(ctx); {
	case !m.migrated.Load():
		rd.Postgres = "waiting for PostgreSQL to apply the schema migrations"
	case err != nil:
		rd.Postgres = "unreachable or not migrated"
		m.log.Debug("readyz: PostgreSQL", "err", err)
	}
	switch {
	case m.nc.Status() != nats.CONNECTED:
		rd.NATS = "not connected (" + m.nc.Status().String() + ")"
	case !m.streams.Load():
		rd.NATS = "waiting to create the streams"
	}
	rd.Ready = rd.Postgres == "ok" && rd.NATS == "ok"
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !rd.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(rd)
}

// newLogger is the process's one logger, to w (stdout: journald takes it,
// one record a line, with its priority and without a time of its own when
// $JOURNAL_STREAM names it).
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := slog.HandlerOptions{Level: level}
	format := func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }
	if cli.JournalStream(w) {
		return slog.New(cli.NewJournaldHandler(w, opts, format))
	}
	return slog.New(format(w, &opts))
}
