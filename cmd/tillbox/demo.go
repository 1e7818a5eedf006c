package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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

	"github.com/BurntSushi/toml"
	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/classify"
)

// exampleQR is a personal QR code in Vipps' clear-text form, as in the docs.
const exampleQR = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"

// demoConfigName is the demo's configuration file in its data folder.
const demoConfigName = "tillbox.toml"

// The demo is `tillbox run`'s Main with a configuration of its own,
// written to <data folder>/tillbox.toml: the embedded simulator as the
// Vipps MobilePay base URL, a webhook registered with it, the POS API,
// customer display and technician page on loopback (another free port when
// the one asked for is busy), and the terminal as one more scanner of its
// scanners.Manager (terminal.go). So the demo serves all that run serves
// (the probes, /metrics, the technician page, the scanners' status), logs
// as run does (to stderr: stdout is the demo's terminal), and shuts down
// as run does. The technician page's settings overlay is
// <data folder>/settings.toml, as on a box: in the temporary folder it goes
// with the demo; with --data-dir it stays, and the next demo on that folder
// starts with it. A restart asked on the technician page restarts the Main
// on the same folder, simulator and terminal.

// demo is what `tillbox demo` was asked for, and what it made.
type demo struct {
	stdout       io.Writer
	listen       string // the asked-for addresses
	displayLn    string
	consoleLn    string
	lang         string
	dataDir      string
	approveAfter time.Duration
	once         bool
	verbose      bool
	scanners     []config.Scanner
	patterns     []classify.Pattern

	simURL string
	file   string // the configuration written in dataDir
	term   *terminal
}

// runDemo runs the whole agent on this machine: the embedded Vipps
// MobilePay simulator, a store in a temporary folder, the POS API and the
// webhook endpoint, and the terminal as a scanner (terminal.go) reading
// codes typed or pasted on it. A first sale goes through by itself so the log shows the
// flow; then it runs until interrupted (or, with --once, stops there).
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runDemoWithInput(ctx, args, os.Stdin, stdout, stderr)
}

func runDemoWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	d, err := parseDemo(args, stdout, stderr)
	if err != nil {
		return err
	}
	if d.dataDir == "" {
		dir, err := os.MkdirTemp("", "tillbox-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		d.dataDir = dir
	} else if err := makeDataDir(d.dataDir, "--data-dir"); err != nil {
		return err
	}
	level := slog.LevelInfo
	if d.verbose {
		level = slog.LevelDebug
	}

	// The simulator: the only fake, on loopback; the world outside the
	// box, so it outlives a restart of the box's Main.
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Approve, Delay: d.approveAfter},
		Logger: newLogger(stderr, level).With("component", "sim")})
	defer s.Close()
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	stopSim := serve(simLn, s)
	defer stopSim()
	d.simURL = "http://" + simLn.Addr().String()

	given, err := d.listeners()
	if err != nil {
		return err
	}
	defer func() {
		for _, ln := range given { // those no Main took
			_ = ln.Close()
		}
	}()
	if err := d.writeConfig(ctx, given); err != nil {
		return err
	}
	d.term = newTerminal(stdin)
	defer d.term.shutdown()
	for first := true; ; first = false {
		err := d.runMain(ctx, stderr, given, first)
		if !errors.Is(err, errRestart) {
			return err
		}
		given = nil
		fmt.Fprintln(stdout, "tillbox demo: restarting (asked on the technician page), on the same data folder and simulator")
	}
}

// parseDemo reads the demo's command line and checks its scanners and
// patterns as `tillbox run` checks the configuration's.
func parseDemo(args []string, stdout, stderr io.Writer) (*demo, error) {
	d := &demo{stdout: stdout}
	fs := flag.NewFlagSet("tillbox demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&d.listen, "listen", "127.0.0.1:8080", "address of the POS API (another free port is taken if this one is busy)")
	fs.StringVar(&d.displayLn, "display-listen", "127.0.0.1:8081", "address of the customer display (another free port is taken if this one is busy)")
	fs.StringVar(&d.lang, "lang", "en", "language of the customer display: nb, da, fi or en")
	fs.StringVar(&d.consoleLn, "console-listen", "127.0.0.1:8082", "address of the technician page (another free port is taken if this one is busy)")
	fs.StringVar(&d.dataDir, "data-dir", "", "folder for the database, the demo's configuration and the technician page's settings (default: a new temporary folder)")
	fs.DurationVar(&d.approveAfter, "approve-after", 2*time.Second, "how long the simulated customer takes to approve in the app")
	fs.BoolVar(&d.once, "once", false, "stop after the first sale reaches its outcome")
	fs.BoolVar(&d.verbose, "v", false, "log at debug level")
	fs.Func("scanner", "also read the scanner `SPEC` (DRIVER:MATCH[,KEY=VALUE...], as tillbox run --scanner, e.g. serial:/dev/ttyACM0 or hid:0c2e:0b61,layout=no); repeatable", func(s string) error {
		sc, err := config.ParseScanner(s)
		if err != nil {
			return err
		}
		d.scanners = append(d.scanners, sc)
		return nil
	})
	fs.Func("pattern", "recognise personal QR codes by `NAME=REGEXP` (RE2, the whole code) instead of the defaults, as [[scan.pattern]] does in the configuration; repeatable", func(s string) error {
		name, expr, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("%q is not NAME=REGEXP", s)
		}
		d.patterns = append(d.patterns, classify.Pattern{Name: name, Expr: expr})
		return nil
	})
	if _, err := parseArgs(fs, args, stdout); err != nil {
		return nil, err
	}
	if _, err := demoScanners(d.scanners); err != nil {
		return nil, problems(stderr, "--scanner", err)
	}
	scan := config.Default().Scan // [scan] of a configuration file
	if d.patterns != nil {
		scan.Patterns = d.patterns
	}
	if err := scan.Validate(); err != nil {
		return nil, problems(stderr, "--pattern", err)
	}
	personalQR, err := scan.Classifier()
	if err != nil {
		return nil, err
	}
	if _, err := personalQR.Classify(exampleQR); err != nil {
		return nil, fmt.Errorf("--pattern: the demo's example code %s is not a personal QR code by these patterns (%w): the first sale could not go through", exampleQR, err)
	}
	return d, nil
}

// listeners listens on the addresses asked for, or on another free port
// of loopback when one is busy; by the configuration's field.
func (d *demo) listeners() (map[string]net.Listener, error) {
	given := map[string]net.Listener{}
	for _, l := range []struct{ field, addr string }{
		{"pos.listen", d.listen}, {"display.listen", d.displayLn}, {"console.listen", d.consoleLn},
	} {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			for _, ln := range given {
				_ = ln.Close()
			}
			return nil, err
		}
		given[l.field] = ln
	}
	return given, nil
}

// writeConfig registers the box's webhook with the simulator and writes
// the demo's configuration to <data folder>/tillbox.toml (mode 0600: it
// holds the demo's secrets), with the addresses listened on.
func (d *demo) writeConfig(ctx context.Context, given map[string]net.Listener) error {
	const clientID, secret, key, msn = "00000000-0000-4000-8000-000000000001", "demo-secret", "demo-key", "123456"
	boxURL := "http://" + given["pos.listen"].Addr().String()
	client, err := epayment.New(epayment.Config{BaseURL: d.simURL, ClientID: clientID,
		ClientSecret: secret, SubscriptionKey: key, MSN: msn})
	if err != nil {
		return err
	}
	hookURL := boxURL + "/webhooks/vipps"
	var events []string
	for _, n := range []epayment.EventName{epayment.EventCreated, epayment.EventAuthorized, epayment.EventAborted, epayment.EventExpired,
		epayment.EventCancelled, epayment.EventCaptured, epayment.EventRefunded, epayment.EventTerminated} {
		events = append(events, epayment.WebhookEventType(n))
	}
	reg, err := client.RegisterWebhook(ctx, hookURL, events)
	if err != nil {
		return fmt.Errorf("registering the webhook with the simulator: %w", err)
	}
	level := "info"
	if d.verbose {
		level = "debug"
	}
	doc := map[string]any{
		"box": map[string]any{"till": "demo", "data_dir": d.dataDir},
		"vipps": map[string]any{"base_url": d.simURL, "client_id": clientID, "client_secret": secret,
			"subscription_key": key, "msn": msn, "webhook_url": hookURL, "webhook_secret": reg.Secret.Reveal()},
		"pos":     map[string]any{"listen": given["pos.listen"].Addr().String(), "token": randomToken()},
		"log":     map[string]any{"level": level},
		"display": map[string]any{"listen": given["display.listen"].Addr().String(), "language": d.lang},
		"console": map[string]any{"listen": given["console.listen"].Addr().String()},
	}
	if d.patterns != nil {
		var list []map[string]any
		for _, p := range d.patterns {
			list = append(list, map[string]any{"name": p.Name, "expr": p.Expr})
		}
		doc["scan"] = map[string]any{"pattern": list}
	}
	var b bytes.Buffer
	b.WriteString("# The configuration of a `tillbox demo`, written by it at its start (the simulator's\n# address and the webhook change each time). The technician page's settings go to\n# settings.toml beside it.\n\n")
	if err := toml.NewEncoder(&b).Encode(doc); err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	d.file = filepath.Join(d.dataDir, demoConfigName)
	return os.WriteFile(d.file, b.Bytes(), 0o600)
}

// runMain loads the demo's configuration (with the technician page's
// overlay), applies --scanner as `tillbox run --scanner` does, and runs
// the Main until ctx ends, --once's first sale ends, or a restart.
func (d *demo) runMain(ctx context.Context, stderr io.Writer, given map[string]net.Listener, first bool) error {
	m := NewMain(d.stdout, stderr)
	m.logOut, m.scanOut = stderr, d.stdout
	c, err := config.Load(d.file)
	if err == nil && d.scanners != nil {
		err = c.Override(config.Overrides{Scanners: d.scanners})
		m.overridden = []string{"scanners"}
	}
	if err != nil {
		return problems(stderr, d.file, err)
	}
	m.Config, m.configPath, m.terminal = c, d.file, d.term
	m.given = map[string]net.Listener{}
	for field, ln := range given {
		m.given[field] = ln
		delete(given, field) // the Main's now: Close closes it
	}
	m.beside = func(ctx context.Context) error { return d.script(ctx, m, first) }
	err = m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return err
}

// script is the demo's work beside the box's Main: its banner, the
// events as a POS reads them, the first sale (on the first start) and the
// terminal. It ends when ctx ends, or with --once when the first sale ends.
func (d *demo) script(ctx context.Context, m *Main, first bool) error {
	a := m.agent
	d.banner(m, first)
	var wg sync.WaitGroup
	defer wg.Wait()
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	// Report every event as a POS would, from sequence 0.
	outcome := make(chan agent.Event, 1)
	wg.Go(func() { followEvents(followCtx, a, d.stdout, outcome) })
	if first {
		ref, err := d.firstSale(ctx, a)
		if err != nil {
			return err
		}
		if d.once {
			select {
			case ev := <-outcome:
				if ev.Reference != ref || ev.State != agent.Completed {
					return fmt.Errorf("first sale ended %s", ev.State)
				}
				fmt.Fprintf(d.stdout, "done: %s captured %s NOK in full.\n", ev.Reference, kroner(ev.Sale.Aggregate.Captured))
				return nil
			case <-time.After(30 * time.Second):
				return errors.New("the first sale did not complete within 30 s")
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	d.term.commands(ctx, a, d.stdout, d.simURL)
	fmt.Fprintln(d.stdout, "stopping")
	return nil
}

// firstSale rings up a sale and scans the example code into it, as a
// cashier and a customer would.
func (d *demo) firstSale(ctx context.Context, a *agent.Agent) (reference string, err error) {
	first, err := a.CreateSale(ctx, agent.SaleRequest{Amount: 49900, Currency: "NOK", Description: "Kaffe og bolle",
		Lines: []agent.Line{{Name: "Kaffe", Amount: 3900, TaxRate: 1500}, {Name: "Bolle", Amount: 46000, TaxRate: 1500}}})
	if err != nil {
		return "", err
	}
	select { // the customer reaches for the phone
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	// Scanned on the terminal's scanner: a sale from the POS may be under
	// way, and the scan is then refused, as a real scan would be, and the
	// demo goes on.
	if err := d.term.paste(ctx, exampleQR); err != nil {
		return "", err
	}
	return first.Reference, nil
}

// banner tells where the demo serves and what to do.
func (d *demo) banner(m *Main, first bool) {
	boxURL := "http://" + m.Addr().String()
	signIn := "sign in with the password set on it" // in a --data-dir of an earlier demo, or before a restart
	if code := m.tech.console.Code(); code != "" {
		signIn = "sign in with the one-time code " + code
	}
	fmt.Fprintf(d.stdout, `tillbox demo: the agent, the embedded Vipps MobilePay simulator and the terminal as a scanner

  POS API       %[1]s/api/v1   (OpenAPI: %[1]s/api/openapi.yaml)
  POS token     %[2]s
  probes        %[1]s/healthz   %[1]s/readyz   %[1]s/metrics
  display       %[6]s   (the customer display: open it in a browser)
  technician    %[7]s   (%[8]s)
  settings      %[9]s   (the technician page's, over %[10]s)
  simulator     %[3]s   (every payment: %[3]s/sim/payments)
  database      %[4]s

Ring up a sale as the cash register would:
  curl -s -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
       -d '{"amount":4990,"currency":"NOK","description":"Kaffe"}' %[1]s/api/v1/sales
or type 'sale 4990' here. Then scan: paste a personal QR code here and press Enter, e.g.
  %[5]s
To see a decline, type 'sale 151' (a magic test amount: the approval fails). 'help' lists the commands.
Follow the results as the POS would: tillbox pos --url %[1]s --token %[2]s events --follow
`, boxURL, m.Config.POS.Token.Reveal(), d.simURL, m.Config.DBPath(), exampleQR, m.display.URL(), m.tech.URL(), signIn,
		config.OverlayPath(m.Config.Box.DataDir), d.file)
	if first {
		fmt.Fprintf(d.stdout, "\nA first sale goes through now by itself (the simulated customer approves after %v):\n", d.approveAfter)
	}
}

// followEvents prints the event log as a POS reads it; the first outcome goes
// to outcome.
func followEvents(ctx context.Context, a *agent.Agent, out io.Writer, outcome chan<- agent.Event) {
	var after uint64
	for ctx.Err() == nil {
		evs, err := a.Events(ctx, after, 100, 30*time.Second)
		if err != nil {
			return
		}
		for _, e := range evs {
			after = e.Seq
			line := fmt.Sprintf("  event %-4d  %s  %-20s %s NOK", e.Seq, e.Reference, e.State, kroner(e.Sale.Amount))
			if e.Sale.Message != "" {
				line += "  " + e.Sale.Message
			}
			fmt.Fprintln(out, line)
			if e.State.Outcome() {
				select {
				case outcome <- e:
				default:
				}
			}
		}
	}
}

// demoHelp lists what the demo's terminal takes.
func demoHelp(simURL string) string {
	return fmt.Sprintf(`  commands:
    sale AMOUNT   ring up a sale of AMOUNT øre as the POS would (sale 4990: 49.90 NOK)
    CODE          a scan: paste a personal QR code, e.g. %[1]s
    help          this list
  a decline: sale 151, then scan (151 is a magic test amount: the approval fails, the sale ends declined);
    or have the simulated customer reject every request:
      curl -d '{"action":"reject"}' %[2]s/sim/app
    and approve again: curl -d '{"action":"approve","delayMs":2000}' %[2]s/sim/app
  Ctrl-C stops the demo.
`, exampleQR, simURL)
}

// serve runs an HTTP server on ln until the returned stop is called.
func serve(ln net.Listener, h http.Handler) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// kroner formats minor units as 499.00.
func kroner(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

// demoScanners checks the --scanner specs as `tillbox run` does, fills in
// their defaults and converts them for the drivers.
func demoScanners(specs []config.Scanner) ([]device.Spec, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	c := config.Default()
	// Stand-ins so that the rest of the configuration validates; the demo
	// uses its own.
	c.Vipps.BaseURL, c.Vipps.ClientID, c.Vipps.MSN = "http://127.0.0.1:1", "00000000-0000-4000-8000-000000000001", "123456"
	c.Vipps.ClientSecret, c.Vipps.SubscriptionKey, c.POS.Token = "demo-secret", "demo-key", "demo-token-0123456789abcdef"
	if err := c.Override(config.Overrides{Scanners: specs}); err != nil {
		return nil, err
	}
	return config.Specs(c.Scanners)
}
