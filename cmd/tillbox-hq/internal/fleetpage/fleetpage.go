// Package fleetpage is headquarters' fleet page for the chain's IT: behind
// a login, every store with its tills (connected or not and since when,
// Vipps MobilePay online, queue, scanners, version, journal lag, last
// error) and today's sales per store, on one server-rendered page that
// refreshes itself and fits a phone, and the same data as JSON at
// /api/fleet for scripts. Its data come from a [Source] (headquarters'
// PostgreSQL); no secret is in them, so none can reach the page.
//
// The handler serves, relative to where it is mounted (its links and
// redirects are relative, so it may sit under a prefix with
// http.StripPrefix): GET / (the page), GET and POST /login, POST /logout,
// GET /api/fleet and GET /static/fleet.css. Mount it with
// mux.Handle("/", h) (or under a prefix: mux.Handle("/fleet/",
// http.StripPrefix("/fleet", h))).
//
// Scripts log in like a browser and keep the cookie:
//
//	curl -c jar -d name=NAME --data-urlencode password@FILE https://HQ/login # FILE: no final newline
//	curl -b jar https://HQ/api/fleet
package fleetpage

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/display/technician"
	"github.com/tillbox/tillbox/display/web"
)

// Till is one box as the fleet page shows it.
type Till struct {
	Chain, Store, Till string
	LastHeartbeat      time.Time // zero: never heard of
	Version            string
	Online             bool // Vipps MobilePay answers the box (from its heartbeat)
	Queue              int
	Scanners           []Scanner // name, connected
	LastSeq, AtHQ      uint64    // the box's newest event, the newest one headquarters stored
	LastError          string
	// MSN is the box's sales unit; TokenSource and TokenExpires where its
	// access token comes from and when it expires (its heartbeat; tokens.go).
	MSN, TokenSource string
	TokenExpires     time.Time
}

// Scanner is one of a till's scanners.
type Scanner struct {
	Name      string
	Connected bool
}

// StoreSales is one store's sales of one day in one currency (minor units).
type StoreSales struct {
	Store, Currency            string
	Count, Completed           int
	Amount, Captured, Refunded int64
}

// Source is where the page's data come from.
type Source interface {
	Tills(ctx context.Context) ([]Till, error)
	SalesOn(ctx context.Context, day time.Time) ([]StoreSales, error) // day in the chain's time zone
}

// CSP is the Content Security Policy of every answer: the page's own
// style sheet only, no script, forms posted only to headquarters.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// RefreshEvery is how often the page reloads itself.
const RefreshEvery = 10 * time.Second

// Options say who may log in and how the page reads time.
type Options struct {
	// Users are the people who may log in: name → argon2id hash of the
	// password (technician.HashPassword, `tillbox passwd`). Required.
	Users map[string]string
	// Heartbeat is the boxes' heartbeat interval: a till is connected
	// while its last heartbeat is younger than three of them. Required.
	Heartbeat time.Duration
	// Clock is the page's clock; nil: the system's.
	Clock clock.Clock
	// Logger gets logins, refusals and the Source's errors; nil: discard.
	Logger *slog.Logger
	// Location is the chain's time zone: "today" of the sales; nil: UTC.
	Location *time.Location
	// SecureCookies marks the session cookie Secure (and names it with
	// the __Host- prefix): set it when browsers reach the page over TLS,
	// directly or through a proxy. A request that came in over TLS gets
	// them anyway.
	SecureCookies bool
	// Hosts are the names headquarters is reached by (besides its own
	// addresses and localhost); other Host headers are refused (DNS
	// rebinding).
	Hosts []string
	// LoginTries failed logins are allowed per remote address in any
	// LoginWindow (default 5 a minute); more get 429 until the window
	// passes.
	LoginTries  int
	LoginWindow time.Duration
	// A session ends SessionMax after login (default 12 hours), or after
	// SessionIdle unused (default 1 hour; the open page refreshes itself).
	SessionMax  time.Duration
	SessionIdle time.Duration
	// Settings are the chain's layered settings, shown and changed at
	// /settings (settings.go); nil: no settings page.
	Settings Settings
	// Alerts, when set, serves the alerts page (/alerts, /api/alerts).
	Alerts AlertSource
	// Refunds, when set, lists the cross-store refunds at /refunds.
	Refunds RefundSource
	// Actions, when set, runs remote technician actions: each till gets
	// its view with the actions' forms and their audit (till.go).
	Actions Actions
	// Tokens, when set, is headquarters' token broker: a till whose token
	// runs out within the hour is warned of when the broker has none for
	// it (tokens.go).
	Tokens Tokens
	// Recon, when set, serves the reconciliation against the settlement
	// ledger (/recon, /recon.csv: recon.go).
	Recon Recon
}

//go:embed assets
var assets embed.FS

// page is the fleet page's handler.
type page struct {
	src      Source
	o        Options
	log      *slog.Logger
	pages    *template.Template
	sessions *sessions
	limit    *web.Limiter
	logins   *logins
}

// New returns the fleet page's handler reading src.
func New(src Source, o Options) (http.Handler, error) {
	if src == nil {
		return nil, errors.New("fleetpage: no source")
	}
	if o.Heartbeat <= 0 {
		return nil, errors.New("fleetpage: the heartbeat interval must be positive")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	o.LoginTries = orDefault(o.LoginTries, 5)
	o.LoginWindow = orDefault(o.LoginWindow, time.Minute)
	o.SessionMax = orDefault(o.SessionMax, 12*time.Hour)
	o.SessionIdle = orDefault(o.SessionIdle, time.Hour)
	lg, err := newLogins(o.Users)
	if err != nil {
		return nil, err
	}
	pages, err := template.New("").Funcs(template.FuncMap{
		"sub":   func(a, b int) int { return a - b },
		"join":  func(s []string) string { return strings.Join(s, ", ") },
		"views": o.views,
	}).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, err
	}
	p := &page{src: src, o: o, log: o.Logger, pages: pages, logins: lg,
		sessions: newSessions(o.SessionIdle, o.SessionMax),
		limit:    web.NewLimiter(o.LoginTries, o.LoginWindow),
	}
	return p.handler(), nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (p *page) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/fleet.css", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "assets/static/fleet.css")
	})
	mux.HandleFunc("GET /login", p.loginPage)
	mux.HandleFunc("POST /login", p.login)
	mux.HandleFunc("POST /logout", p.logout)
	mux.HandleFunc("GET /{$}", p.loggedIn(p.fleetPage))
	mux.HandleFunc("GET /api/fleet", p.loggedIn(p.fleetJSON))
	p.settingsRoutes(mux)
	p.alertRoutes(mux)
	if p.o.Refunds != nil { // the cross-store refunds (refunds.go)
		mux.HandleFunc("GET /refunds", p.loggedIn(p.refundsPage))
		mux.HandleFunc("GET /api/refunds", p.loggedIn(p.refundsJSON))
	}
	p.tillRoutes(mux)  // till.go
	p.reconRoutes(mux) // recon.go
	// Forms posted from another site (Sec-Fetch-Site, or an Origin that is
	// not the Host) are refused before any handler, the login form too.
	return web.Handler(mux, web.Options{
		CSP: CSP, ReferrerPolicy: "same-origin", CacheControl: "no-store",
		CheckHost: true, Hosts: p.o.Hosts,
		CrossOrigin: true,
		Deny: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.log.Warn("fleetpage: cross-origin request refused", "path", r.URL.Path, "client", remote(r))
			http.Error(w, "forbidden: the form came from another site; open the fleet page itself and try again", http.StatusForbidden)
		}),
	})
}

// seeOther redirects to to, a path relative to the page's root (so that a
// prefix the page is mounted under stays).
func seeOther(w http.ResponseWriter, to string) {
	// r.URL.Path is relative to the mount point: "/" or "/login", one
	// level, so a relative reference resolves within the mount point.
	if to == "" {
		to = "./"
	}
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusSeeOther)
}

func (p *page) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := p.pages.ExecuteTemplate(w, name, data); err != nil {
		p.log.Error("fleetpage: rendering", "page", name, "err", err)
	}
}

// checkHash tells whether h is an argon2id hash CheckPassword reads.
func checkHash(name, h string) error {
	err := technician.CheckPassword(h, "\x00not the password")
	if errors.Is(err, technician.ErrMismatch) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("fleetpage: user %q: the hash matches a dummy password", name)
	}
	return fmt.Errorf("fleetpage: user %q: %w", name, err)
}
