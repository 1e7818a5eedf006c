package technician

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/classify"
	"github.com/tillbox/tillbox/display/web"
	"github.com/tillbox/tillbox/store"
)

// Path is where Handler serves the technician page.
const Path = "/technician/"

// CSP is the Content Security Policy of every answer: the box's own script
// and style only, nothing inline, forms posted only to the box.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

//go:embed assets
var assets embed.FS

// Options are what the page shows and how sign-in works.
type Options struct {
	Agent    *agent.Agent           // required
	DB       *store.DB              // the agent's store: its size and counts
	Scanners func() []device.Status // the scanners' statuses, or nil
	Classify *classify.Classifier   // the [scan] patterns; default patterns when nil
	Version  string                 // the box's version
	Started  time.Time              // when the process started
	Now      func() time.Time       // the clock; time.Now when nil
	Logger   *slog.Logger           // nil: discard
	// Log is the tail of the process's log (LogTail.Handler feeds it); nil:
	// the log page says there is none.
	Log *LogTail
	// Vipps is the agent's Vipps MobilePay client: its token and the
	// clock of its answers on the status page. nil: not shown.
	Vipps *epayment.Client
	// TestPayments allows the test payment: set it only when the client
	// talks to the test environment or a simulator, never production.
	TestPayments bool
	// PasswordHash is the technician password's hash (HashPassword). When
	// empty, sign-in is with a one-time code (Code).
	PasswordHash string
	// SignInTries sign-in attempts are allowed per client in any
	// SignInWindow (default 5 a minute); more get 429.
	SignInTries  int
	SignInWindow time.Duration
	// A session ends after SessionIdle unused (default 30 minutes) or
	// SessionMax after sign-in (default 8 hours).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// Settings, when set, are the settings page's and store the password
	// set on the page (settings.go); a session signed in with the
	// one-time code must then set a password first.
	Settings Settings
	// Restart, when set, restarts the box; it refuses (returning the
	// sales in flight) while a payment is in flight unless force.
	Restart func(force bool) (inFlight []string, err error)
	// CodeFile, when set, is where the one-time code is written (mode
	// 0600) whenever it changes; the file is removed once a password is
	// set. It is never shown on a page or a display, nor logged: only
	// someone with the box in hand reads it (<data_dir>/first-boot-code).
	CodeFile string
	// TLSFingerprint is the SHA-256 fingerprint of the box's TLS
	// certificate, shown on the status page for a POS to pin; "" when the
	// box speaks plain HTTP.
	TLSFingerprint string
	// Fleet, when set, is the status of the link to headquarters ([fleet]),
	// shown on the status page; nil when the link is off.
	Fleet func() fleet.Status
}

// Console is the technician page. Close stops its watching of the agent.
type Console struct {
	o        Options
	now      func() time.Time
	log      *slog.Logger
	sessions *sessions
	limit    *web.Limiter
	scans    *scans
	tests    testPayments
	stop     func()
	pages    *template.Template
	verify   sync.Mutex // one password check at a time: argon2 is costly

	mu   sync.Mutex
	code string // the one-time code, while no password is set
	hash string // the password's hash, once set
}

// New makes the console of o.Agent and starts watching its scans.
func New(o Options) (*Console, error) {
	if o.Agent == nil {
		return nil, errors.New("technician: no agent")
	}
	if o.PasswordHash != "" {
		if _, err := parseHash(o.PasswordHash); err != nil {
			return nil, err
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Classify == nil {
		o.Classify = classify.Default()
	}
	if o.Started.IsZero() {
		o.Started = o.Now()
	}
	o.SignInTries = cmp(o.SignInTries, 5)
	o.SignInWindow = cmp(o.SignInWindow, time.Minute)
	o.SessionIdle = cmp(o.SessionIdle, 30*time.Minute)
	o.SessionMax = cmp(o.SessionMax, 8*time.Hour)
	pages, err := template.New("").Funcs(settingsFuncs).Funcs(template.FuncMap{
		"ago":   func(t time.Time) string { return ago(o.Now(), t) },
		"bytes": humanBytes,
		"money": func(minor int64, cur string) string { return fmt.Sprintf("%d.%02d %s", minor/100, abs(minor%100), cur) },
	}).Funcs(moreFuncs(o.Now)).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, err
	}
	c := &Console{o: o, now: o.Now, log: o.Logger, pages: pages, hash: o.PasswordHash,
		sessions: newSessions(o.SessionIdle, o.SessionMax),
		limit:    web.NewLimiter(o.SignInTries, o.SignInWindow),
		scans:    &scans{c: o.Classify, now: o.Now},
	}
	if o.PasswordHash == "" {
		if c.code, err = newCode(); err != nil {
			return nil, err
		}
	}
	c.stop = o.Agent.Watch(agent.Watcher{Scan: c.scans.watch})
	c.announceCode(c.code)
	return c, nil
}

func cmp[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// Close stops watching the agent.
func (c *Console) Close() { c.stop() }

// Code is the one-time sign-in code, or "" when a password is set. It
// changes each time it is used.
func (c *Console) Code() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// Handler serves the page under Path.
func (c *Console) Handler() http.Handler {
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		panic(err) // embedded
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path+"static/", http.StripPrefix(Path+"static/", http.FileServerFS(static)))
	mux.HandleFunc("GET "+Path+"signin", c.signInPage)
	mux.HandleFunc("POST "+Path+"signin", c.signIn)
	mux.HandleFunc("GET "+Path+"{$}", c.signedIn(c.statusPage))
	mux.HandleFunc("GET "+Path+"scan", c.signedIn(c.scanPage))
	mux.HandleFunc("GET "+Path+"scans.json", c.signedIn(c.scansJSON))
	mux.HandleFunc("POST "+Path+"backup", c.signedIn(c.csrf(c.backup)))
	mux.HandleFunc("GET "+Path+"log", c.signedIn(c.logPage))
	mux.HandleFunc("GET "+Path+"log.json", c.signedIn(c.logJSON))
	mux.HandleFunc("GET "+Path+"testpay", c.signedIn(c.testPayPage))
	mux.HandleFunc("GET "+Path+"testpay.json", c.signedIn(c.testPayJSON))
	mux.HandleFunc("POST "+Path+"testpay", c.signedIn(c.csrf(c.testPay)))
	mux.HandleFunc("POST "+Path+"signout", c.signedIn(c.csrf(c.signOut)))
	mux.HandleFunc("GET "+Path+"settings", c.signedIn(c.settingsPage))
	mux.HandleFunc("POST "+Path+"settings", c.signedIn(c.csrf(c.saveSettings)))
	mux.HandleFunc("POST "+Path+"restart", c.signedIn(c.csrf(c.restart)))
	mux.HandleFunc("GET "+Path+"password", c.signedIn(c.passwordPage))
	mux.HandleFunc("POST "+Path+"password", c.signedIn(c.csrf(c.setPassword)))
	// Forms posted from another site (Sec-Fetch-Site, or an Origin that is
	// not the Host) are refused before any handler, the sign-in form too;
	// the CSRF tokens stay as a second line. Referrer-Policy same-origin:
	// so that browsers send Origin (sameOrigin).
	return web.Handler(mux, web.Options{
		CSP: CSP, ReferrerPolicy: "same-origin", CacheControl: "no-store",
		CrossOrigin: true,
		Deny: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.log.Warn("technician: cross-origin request refused", "path", r.URL.Path, "client", client(r))
			http.Error(w, "forbidden: the form came from another site; open the technician page itself and try again", http.StatusForbidden)
		}),
	})
}

type ctxSession struct {
	id string
	s  *session
}

// handlerWithSession is a handler that needs the signed-in session.
type handlerWithSession func(w http.ResponseWriter, r *http.Request, s ctxSession)

// signedIn runs h for a signed-in session; others go to the sign-in page.
func (c *Console) signedIn(h handlerWithSession) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := sessionID(r)
		s := c.sessions.get(id, c.now())
		if s == nil || !s.signedIn {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, ".json") {
				http.Redirect(w, r, Path+"signin", http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if c.mustSetPassword() && r.URL.Path != Path+"password" && r.URL.Path != Path+"signout" {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, Path+"password", http.StatusSeeOther)
				return
			}
			http.Error(w, "set a technician password first", http.StatusForbidden)
			return
		}
		h(w, r, ctxSession{id: id, s: s})
	}
}

// csrf refuses a POST without the session's CSRF token, or from another
// origin.
func (c *Console) csrf(h handlerWithSession) handlerWithSession {
	return func(w http.ResponseWriter, r *http.Request, s ctxSession) {
		if !c.sameOrigin(r) || !s.s.validCSRF(csrfToken(r)) {
			c.log.Warn("technician: request refused: bad CSRF token or origin", "path", r.URL.Path, "client", client(r))
			http.Error(w, "forbidden: the form is stale or came from elsewhere; reload the page", http.StatusForbidden)
			return
		}
		h(w, r, s)
	}
}

// csrfToken is the token r carries: the form's csrf field or the
// X-CSRF-Token header.
func csrfToken(r *http.Request) string {
	if t := r.Header.Get("X-CSRF-Token"); t != "" {
		return t
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 8<<10)
	return r.PostFormValue("csrf")
}

// sameOrigin refuses a request whose Origin (sent by browsers with every
// POST) is another host than the one it was sent to.
func (c *Console) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser, or an old one: the token decides
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (c *Console) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.pages.ExecuteTemplate(w, name, data); err != nil {
		c.log.Error("technician: page", "page", name, "err", err)
	}
}

type signInData struct {
	CSRF     string
	Code     bool   // sign-in is with the one-time code
	CodeFile string // where it is, on the box
	Problem  string
}

// signInPage shows the sign-in form, with a fresh pre-sign-in session for
// its CSRF token.
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	now := c.now()
	if s := c.sessions.get(sessionID(r), now); s != nil && s.signedIn {
		http.Redirect(w, r, Path, http.StatusSeeOther)
		return
	}
	id, s := c.sessions.create(now, false)
	setCookie(w, r, id)
	c.render(w, http.StatusOK, "signin.html", signInData{CSRF: s.csrf, Code: c.Code() != "", CodeFile: c.o.CodeFile})
}

// signIn checks the rate limit, the CSRF token of the pre-sign-in
// session, then the password (or the one-time code), and on success starts
// a new session. Only wrong passwords and codes count in the limit.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	now := c.now()
	who := client(r)
	id := sessionID(r)
	// A signed-in session (a second tab's form) is let through, whatever
	// others on its address tried.
	if s := c.sessions.get(id, now); s != nil && s.signedIn {
		http.Redirect(w, r, Path, http.StatusSeeOther)
		return
	}
	if ok, next := c.limit.Allow(who, now); !ok {
		c.log.Warn("technician: sign-in rate limited", "client", who)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(next.Sub(now).Seconds()+0.999))))
		http.Error(w, "too many sign-in attempts: wait a minute", http.StatusTooManyRequests)
		return
	}
	pre := c.sessions.get(id, now)
	if pre == nil || !c.sameOrigin(r) || !pre.validCSRF(csrfToken(r)) {
		c.limit.Forgive(who, now) // a stale form is no guess
		c.log.Warn("technician: sign-in refused: bad CSRF token or origin", "client", who)
		http.Error(w, "forbidden: the form is stale or came from elsewhere; reload the page", http.StatusForbidden)
		return
	}
	password := r.PostFormValue("password")
	if !c.check(password) {
		c.log.Warn("technician: wrong password", "client", who)
		c.render(w, http.StatusUnauthorized, "signin.html", signInData{CSRF: pre.csrf, Code: c.Code() != "",
			CodeFile: c.o.CodeFile, Problem: "Wrong password or code."})
		return
	}
	c.limit.Forgive(who, now) // only failures count
	// A new session: the id the browser had before sign-in is dropped.
	c.sessions.drop(id)
	nid, _ := c.sessions.create(now, true)
	setCookie(w, r, nid)
	c.log.Info("technician: signed in", "client", who)
	http.Redirect(w, r, Path, http.StatusSeeOther)
}

// check tells whether password is the technician's password, or the
// one-time code (which is then replaced by a new one).
func (c *Console) check(password string) bool {
	if password == "" || len(password) > 1024 {
		return false
	}
	if hash := c.passwordHash(); hash != "" {
		c.verify.Lock()
		defer c.verify.Unlock()
		return CheckPassword(hash, password) == nil
	}
	c.mu.Lock()
	if c.code == "" || !sameCode(password, c.code) {
		c.mu.Unlock()
		return false
	}
	code, err := newCode()
	if err != nil {
		code = "" // no more sign-in with a code until a restart
	}
	c.code = code
	c.mu.Unlock()
	c.announceCode(code)
	c.log.Warn("technician: the one-time code was used; the next sign-in needs the new one, until a password is set", "file", c.o.CodeFile)
	return true
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s ctxSession) {
	c.sessions.drop(s.id)
	clearCookie(w, r)
	http.Redirect(w, r, Path+"signin", http.StatusSeeOther)
}

type pageData struct {
	CSRF   string
	Status Status
	Code   bool
}

func (c *Console) statusPage(w http.ResponseWriter, r *http.Request, s ctxSession) {
	c.render(w, http.StatusOK, "status.html", pageData{CSRF: s.s.csrf, Status: c.status(), Code: c.Code() != ""})
}

func (c *Console) scanPage(w http.ResponseWriter, r *http.Request, s ctxSession) {
	c.render(w, http.StatusOK, "scan.html", pageData{CSRF: s.s.csrf})
}

func (c *Console) scansJSON(w http.ResponseWriter, r *http.Request, s ctxSession) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c.scans.latest())
}

// backup sends a consistent copy of the database.
func (c *Console) backup(w http.ResponseWriter, r *http.Request, s ctxSession) {
	name := "tillbox-" + c.now().UTC().Format("20060102-150405") + ".db"
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	n, err := c.o.Agent.Backup(w)
	if err != nil {
		c.log.Error("technician: backup", "err", err, "bytes", n)
		if n == 0 {
			http.Error(w, "backup failed: "+err.Error(), http.StatusInternalServerError)
		}
		return
	}
	c.log.Info("technician: backup downloaded", "bytes", n, "client", client(r))
}

// ago is how long before now t was, for people.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in the future (" + t.Format(time.RFC3339) + ")"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	default:
		return d.Round(time.Minute).String() + " ago (" + t.Format(time.RFC3339) + ")"
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10) + " B"
}
