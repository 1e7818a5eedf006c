package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/gcpolicy"
	"github.com/tillbox/tillbox/agent/metrics"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/agent/version"
	"github.com/tillbox/tillbox/cmd/internal/cli"
	"github.com/tillbox/tillbox/device/scanners"
	"github.com/tillbox/tillbox/display/technician"
	"github.com/tillbox/tillbox/store"
)

// runRun is `tillbox run`: the agent of one till, until ctx ends.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := NewMain(stdout, stderr)
	if err := m.ParseFlags(args); err != nil {
		return err
	}
	err := m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, errRestart) {
		return reexec() // restart.go
	}
	return err
}

// Main is one tillbox agent process: the store, the Vipps MobilePay client,
// the agent's loops, the scanners and the HTTP server of the POS API and the
// webhooks (with the probes and /metrics), the customer display and the
// technician page. It owns their goroutines and listeners.
// NewMain → ParseFlags (or set Config) → Run(ctx) → Close. `tillbox run`
// and `tillbox demo` are this Main; the demo sets its own configuration
// and the work it does beside (demo.go).
type Main struct {
	// Config is the configuration in force; ParseFlags loads it.
	Config *config.Config

	stdout, stderr io.Writer
	level          slog.LevelVar
	log            *slog.Logger
	tail           *technician.LogTail // the log's tail, for the technician page

	db        *store.DB
	agent     *agent.Agent
	vipps     *epayment.Client
	tokens    *hqTokens // headquarters' token broker, when it gives the token (fleet_token.go)
	scanners  *scanners.Manager
	ln        net.Listener
	tls       *tls.Config  // the POS API's and the technician page's ([tls]), or nil: plain HTTP
	tlsPrint  string       // the SHA-256 fingerprint of its certificate
	displayLn net.Listener // the customer display's, or nil
	tech      *technicianPage
	techLn    net.Listener // the technician page's, or nil
	metricsLn net.Listener // /metrics on its own ([metrics] listen), or nil
	display   *customerDisplay
	fleet     *boxLink      // the link to headquarters ([fleet]), or nil (fleet.go)
	ready     chan struct{} // closed once the server accepts requests
	calls     metrics.Calls // the ePayment client's round trips, for /metrics

	configPath  string           // the configuration file (the technician page's settings)
	flags       config.Overrides // the command line's settings (fleet_config.go)
	overridden  []string         // the fields the command line overrides
	restart     chan struct{}    // closed when the technician page asks for a restart (restart.go)
	restartOnce sync.Once

	// What `tillbox demo` sets (demo.go); zero for `tillbox run`.
	logOut  io.Writer               // where the log goes: stdout, or the demo's stderr (its stdout is its terminal)
	scanOut io.Writer               // a line per scan of a scanner (the demo's terminal), or nil
	given   map[string]net.Listener // listeners opened before Run, by their field (pos.listen): Main closes them
	// beside runs beside the agent once it serves, in place of the
	// notices of where the box serves (the demo's banner, first sale and
	// terminal), until its context ends at shutdown; when it returns
	// first, Run shuts down and returns its error.
	beside func(ctx context.Context) error
	// terminal is the demo's terminal, one more scanner (terminal.go).
	terminal *terminal
}

// NewMain returns a Main that writes its notices and its log to stdout, and
// what stops it before it logs (flags, configuration) to stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{stdout: stdout, stderr: stderr, logOut: stdout, ready: make(chan struct{}), restart: make(chan struct{})}
}

// ParseFlags reads the command line of `tillbox run`, loads the
// configuration file and applies the flags over it. Every problem of the
// configuration is printed to stderr, one per line.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("tillbox run", flag.ContinueOnError)
	fs.SetOutput(m.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: tillbox run [flags]\n\nRun the agent of one till: the POS API, webhooks, the outbox and polling.\nFlags override the configuration file.\n\n")
		fs.PrintDefaults()
	}
	path := fs.String("config", config.DefaultPath, "the configuration `file` (`tillbox config example` prints one)")
	var o config.Overrides
	fs.StringVar(&o.Listen, "listen", "", "serve the POS API and webhooks on `ADDR` instead of pos.listen")
	fs.StringVar(&o.DataDir, "data-dir", "", "keep the database in `DIR` instead of box.data_dir")
	fs.StringVar(&o.BaseURL, "vipps-url", "", "talk to Vipps MobilePay (or a simulator) at `URL` instead of vipps.environment/base_url")
	fs.Func("scanner", "read the scanner `SPEC` (DRIVER:MATCH[,KEY=VALUE...], e.g. serial:/dev/ttyACM0,baud=9600) instead of the [[scanner]] entries; repeatable", func(s string) error {
		sc, err := config.ParseScanner(s)
		if err != nil {
			return err
		}
		o.Scanners = append(o.Scanners, sc)
		return nil
	})
	if _, err := parseArgs(fs, args, m.stdout); err != nil {
		return err
	}
	c, err := config.Load(*path)
	if err == nil {
		err = c.Override(o)
	}
	if err != nil {
		return problems(m.stderr, *path, err)
	}
	m.Config = c
	m.configPath, m.flags = *path, o
	for _, f := range []struct {
		name string
		set  bool
	}{{"pos.listen", o.Listen != ""}, {"box.data_dir", o.DataDir != ""}, {"vipps.base_url", o.BaseURL != ""}, {"scanners", o.Scanners != nil}} {
		if f.set {
			m.overridden = append(m.overridden, f.name)
		}
	}
	return nil
}

// problems prints each problem of a configuration error on its own line
// and returns a summary; any other error is returned as it is.
func problems(w io.Writer, path string, err error) error {
	var ce *config.Error
	if !errors.As(err, &ce) {
		return err
	}
	for _, p := range ce.Problems {
		fmt.Fprintln(w, p)
	}
	if len(ce.Problems) == 1 {
		return fmt.Errorf("%s: 1 problem", path)
	}
	return fmt.Errorf("%s: %d problems", path, len(ce.Problems))
}

// Addr is the address the server listens on, once Ready is closed.
func (m *Main) Addr() net.Addr { return m.ln.Addr() }

// DisplayAddr is the address of the customer display, once Ready is
// closed; nil when display.listen is empty.
func (m *Main) DisplayAddr() net.Addr {
	if m.displayLn == nil {
		return nil
	}
	return m.displayLn.Addr()
}

// Ready is closed once the POS API accepts requests.
func (m *Main) Ready() <-chan struct{} { return m.ready }

// Run opens the store, starts the agent and serves the POS API and the
// webhook endpoint until ctx ends, then shuts down in two phases: the server
// stops accepting and lets requests in flight finish, then the agent's loops
// stop; both within box.shutdown_timeout. (A second signal, handled in
// main, ends the process at once.)
func (m *Main) Run(ctx context.Context) error {
	c := m.Config
	if c == nil {
		return errors.New("run: no configuration")
	}
	if err := c.Validate(); err != nil {
		return err
	}
	m.log = m.newLogger()
	log := m.log
	if percent, limit := gcpolicy.Current(); percent != gcpolicy.Percent || limit != gcpolicy.MemoryLimit {
		log.Info("garbage collector not as tillbox sets it (the environment's GOGC or GOMEMLIMIT, or a test)", "GOGC", percent, "GOMEMLIMIT", limit)
	}
	for _, w := range c.Warnings {
		log.Warn("configuration", "field", w.Field, "line", w.Line, "problem", w.Reason)
	}

	if err := m.open(); err != nil {
		return err
	}
	levelCtx, stopLevel := context.WithCancel(ctx)
	defer stopLevel()
	m.watchLogLevel(levelCtx, m.level.Level())
	return m.serve(ctx)
}

// makeDataDir makes the data folder dir (0750, as install.sh does) and
// its parents if they are missing; setting names where dir was set.
func makeDataDir(dir, setting string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data folder %s cannot be made (%w): make it yourself (writable by the user tillbox runs as, mode 0750), or set %s to another folder", dir, err, setting)
	}
	return nil
}

// open opens the store, makes the Vipps MobilePay client and the agent, and
// listens on the POS API's address.
func (m *Main) open() error {
	c, log := m.Config, m.log
	if err := makeDataDir(c.Box.DataDir, "box.data_dir or --data-dir"); err != nil {
		return err
	}
	tlsCfg, fp, err := boxTLS(c)
	if err != nil {
		return err // tlscert's message names the file and what to do
	}
	m.tls, m.tlsPrint = tlsCfg, fp
	for _, l := range []struct{ field, addr string }{{"pos.listen", c.POS.Listen}, {"console.listen", c.Console.Listen}} {
		if tlsCfg == nil && l.addr != "" && onLAN(l.addr) {
			log.Warn("a listener on the LAN speaks plain HTTP: the POS token and the technician password cross the shop's network in clear text; set [tls] mode = \"self-signed\"", "field", l.field, "listen", l.addr)
		}
	}
	so := c.StoreOptions()
	so.Logger = log.With("component", "store")
	so.CheckRecords = true // a damaged record shows in /readyz before a POS trips on it
	// With the link to headquarters, nothing it lacks is pruned.
	so.HoldUnshipped = c.FleetOn()
	db, err := store.Open(c.DBPath(), so)
	if err != nil {
		return err // the store's message names the lock holder or how to restore
	}
	m.db = db
	ec := c.EPaymentConfig()
	ec.Logger = log.With("component", "epayment")
	ec.Observe = m.calls.Observe
	m.tokenSource(&ec) // fleet_token.go
	vipps, err := epayment.New(ec)
	if err != nil {
		return err
	}
	ao, err := c.AgentOptions()
	if err != nil {
		return err
	}
	ao.Logger = log.With("component", "agent")
	a, err := agent.New(db, vipps, ao)
	if err != nil {
		return err
	}
	m.agent, m.vipps = a, vipps
	if err := m.openFleet(); err != nil { // fleet.go
		return err
	}
	// The scanners: a HID scanner in a build without cgo says so here, at
	// error level, and in GET /api/v1/status.
	specs, err := config.Specs(c.Scanners)
	if err != nil {
		return err
	}
	sm, err := m.openScanners(specs, log.With("component", "scanners")) // scanners.go
	if err != nil {
		return err
	}
	m.scanners = sm

	ln, err := m.listen("pos.listen", c.POS.Listen)
	if err != nil {
		return err
	}
	if m.tls != nil {
		ln = tls.NewListener(ln, m.tls)
	}
	m.ln = ln
	if c.Metrics.Enabled && c.Metrics.Listen != "" {
		// Plain HTTP whatever [tls] says: Prometheus scrapes it, and it
		// carries no secret.
		ml, err := m.listen("metrics.listen", c.Metrics.Listen)
		if err != nil {
			return err
		}
		m.metricsLn = ml
	}
	if c.Display.Listen != "" {
		dl, err := m.listen("display.listen", c.Display.Listen)
		if err != nil {
			return err
		}
		m.displayLn = dl
		personalQR, err := c.Scan.Classifier()
		if err != nil {
			return fmt.Errorf("scan.pattern: %w", err)
		}
		if m.display, err = startDisplay(dl, a, c.Display.Language, personalQR, c.Box.Hosts, log.With("component", "display")); err != nil {
			return err
		}
	}
	return m.openTechnician(db)
}

// listen listens on addr for the field that sets it, or takes the
// listener given for it.
func (m *Main) listen(field, addr string) (net.Listener, error) {
	if ln := m.given[field]; ln != nil {
		delete(m.given, field)
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return ln, nil
}

// openTechnician starts the technician page when console.listen is set.
// Its sign-in is the technician password (console.password_hash, or
// `tillbox passwd`'s file) or, on first boot without one, a one-time code
// in <data_dir>/first-boot-code (mode 0600: for someone with the box in
// hand; never on the customer display, a page or in the log) until a
// password is set.
func (m *Main) openTechnician(db *store.DB) error {
	c, log := m.Config, m.log
	if c.Console.Listen == "" {
		return nil
	}
	hash := c.Console.PasswordHash.Reveal()
	inDataDir := false // `tillbox passwd`'s file holds it, or will: the configuration holds none
	if hash == "" {
		var err error
		if hash, err = technician.ReadPasswordFile(c.Box.DataDir); err != nil {
			return fmt.Errorf("console: %w", err)
		}
		inDataDir = true
	}
	personalQR, err := c.Scan.Classifier()
	if err != nil {
		return fmt.Errorf("scan.pattern: %w", err)
	}
	tl, err := m.listen("console.listen", c.Console.Listen)
	if err != nil {
		return err
	}
	m.techLn = tl
	o := technician.Options{
		Agent: m.agent, DB: db, Scanners: m.scanners.Statuses, Classify: personalQR,
		Version: version.String(), Started: time.Now(), PasswordHash: hash,
		Log: m.tail, Vipps: m.vipps, TestPayments: testPaymentsAllowed(c),
		Restart: m.requestRestart, CodeFile: filepath.Join(c.Box.DataDir, technician.CodeFile),
		TLSFingerprint: m.tlsPrint, Fleet: m.fleetStatus(),
	}
	settings := &settingsFile{path: m.configPath, overrides: m.overridden, agent: m.agent, log: log.With("component", "settings"),
		passwordDir: map[bool]string{true: c.Box.DataDir}[inDataDir], hq: m.fleetConfigState}
	if m.display != nil {
		settings.till = m.display.till
	}
	if m.configPath != "" {
		o.Settings = settings
	}
	if hash == "" {
		log.Warn("no technician password: set one with `sudo tillbox passwd` on the box; until then the technician page signs in with the one-time code in the file (readable by root and the service only)", "file", o.CodeFile)
	}
	m.tech, err = startTechnician(tl, m.tls, o, c.Box.Hosts, log.With("component", "technician"))
	return err
}

// handler routes the POS API and the webhook endpoint.
func (m *Main) handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	api := posapi.New(m.agent, m.Config.POS.Token, log.With("component", "posapi"), posapi.WithScanners(m.scanners.Statuses), posapi.WithTLSFingerprint(m.tlsPrint),
		posapi.WithRemoteRefunds(m.remoteRefunder()))
	mux.Handle("/api/", api)
	// The probes and /metrics, without a token; /metrics only when
	// [metrics] is enabled and has no listener of its own.
	mux.Handle(posapi.PathHealthz, api)
	mux.Handle(posapi.PathReadyz, api)
	if c := m.Config.Metrics; c.Enabled && c.Listen == "" {
		mux.Handle("/metrics", m.metricsHandler(log))
	}
	mux.Handle("/webhooks/vipps", m.agent.WebhookHandler())
	return mux
}

// metricsHandler serves /metrics.
func (m *Main) metricsHandler(log *slog.Logger) http.Handler {
	src := metrics.Sources{Agent: m.agent, Calls: &m.calls,
		Scanners: m.scanners.Statuses, Version: version.String(), Log: log.With("component", "metrics"), Fleet: m.fleetStatus()}
	if m.display != nil {
		src.Displays = m.display.clients
	}
	return metrics.Handler(src)
}

// newLogger is the process's one logger, to stdout (journald takes it, one
// record a line, with its priority and without a time of its own when
// $JOURNAL_STREAM names stdout), at the configured level (which m.level can change while
// running) and format; its tail is kept for the technician page. Problems
// that stop run before it logs go to stderr.
func (m *Main) newLogger() *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(m.Config.Log.Level)); err != nil {
		lv = slog.LevelInfo
	}
	m.level.Set(lv)
	opts := &slog.HandlerOptions{Level: &m.level}
	format := func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }
	if strings.EqualFold(m.Config.Log.Format, "json") {
		format = func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) }
	}
	h := format(m.logOut, opts)
	if cli.JournalStream(m.logOut) {
		h = cli.NewJournaldHandler(m.logOut, *opts, format)
	}
	m.tail = technician.NewLogTail(0, 0)
	return slog.New(m.tail.Handler(h))
}

// Close closes the store. It is safe to call after a failed Run, and more
// than once.
func (m *Main) Close() error {
	if m.scanners != nil {
		m.scanners.Close() // already closed by Run, unless it failed before serving
	}
	if m.ln != nil {
		_ = m.ln.Close() // already closed by Shutdown, unless Run failed before serving
	}
	if m.display != nil { // already closed by Run, unless it failed before serving
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = m.display.Close(ctx)
		cancel()
		m.display = nil
	}
	if m.displayLn != nil {
		_ = m.displayLn.Close()
	}
	if m.tech != nil { // already closed by Run, unless it failed before serving
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = m.tech.Close(ctx)
		cancel()
		m.tech = nil
	}
	if m.techLn != nil {
		_ = m.techLn.Close()
	}
	if m.metricsLn != nil {
		_ = m.metricsLn.Close() // already closed by Shutdown, unless Run failed before serving
	}
	for field, ln := range m.given { // not taken: Run failed before
		_ = ln.Close()
		delete(m.given, field)
	}
	if m.db == nil {
		return nil
	}
	db := m.db
	m.db = nil
	return db.Close()
}
