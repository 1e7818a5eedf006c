package main

import (
	"bufio"
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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/agent/version"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/classify"
	"github.com/tillbox/tillbox/device/scanners"
	"github.com/tillbox/tillbox/display/technician"
	"github.com/tillbox/tillbox/store"
)

// exampleQR is a personal QR code in Vipps' clear-text form, as in the docs.
const exampleQR = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"

// runDemo runs the whole agent on this machine: the embedded Vipps
// MobilePay simulator, a store in a temporary folder, the POS API and the
// webhook endpoint, and a virtual scanner reading codes typed or pasted on
// the terminal. A first sale goes through by itself so the log shows the
// flow; then it runs until interrupted (or, with --once, stops there).
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runDemoWithInput(ctx, args, os.Stdin, stdout, stderr)
}

func runDemoWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tillbox demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the POS API (another free port is taken if this one is busy)")
	displayListen := fs.String("display-listen", "127.0.0.1:8081", "address of the customer display (another free port is taken if this one is busy)")
	lang := fs.String("lang", "en", "language of the customer display: nb, da, fi or en")
	consoleListen := fs.String("console-listen", "127.0.0.1:8082", "address of the technician page (another free port is taken if this one is busy)")
	dataDir := fs.String("data-dir", "", "folder for the database (default: a new temporary folder)")
	approveAfter := fs.Duration("approve-after", 2*time.Second, "how long the simulated customer takes to approve in the app")
	once := fs.Bool("once", false, "stop after the first sale reaches its outcome")
	verbose := fs.Bool("v", false, "log at debug level")
	var specs []config.Scanner
	fs.Func("scanner", "also read the scanner `SPEC` (DRIVER:MATCH[,KEY=VALUE...], as tillbox run --scanner, e.g. serial:/dev/ttyACM0 or hid:0c2e:0b61,layout=no); repeatable", func(s string) error {
		sc, err := config.ParseScanner(s)
		if err != nil {
			return err
		}
		specs = append(specs, sc)
		return nil
	})
	scan := config.Default().Scan // [scan] of a configuration file
	var patterns []classify.Pattern
	fs.Func("pattern", "recognise personal QR codes by `NAME=REGEXP` (RE2, the whole code) instead of the defaults, as [[scan.pattern]] does in the configuration; repeatable", func(s string) error {
		name, expr, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("%q is not NAME=REGEXP", s)
		}
		patterns = append(patterns, classify.Pattern{Name: name, Expr: expr})
		return nil
	})
	if _, err := parseArgs(fs, args, stdout); err != nil {
		return err
	}
	scannerCfgs, err := demoScanners(specs)
	if err != nil {
		return problems(stderr, "--scanner", err)
	}
	if patterns != nil {
		scan.Patterns = patterns
	}
	if err := scan.Validate(); err != nil {
		return problems(stderr, "--pattern", err)
	}
	personalQR, err := scan.Classifier()
	if err != nil {
		return err
	}
	if _, err := personalQR.Classify(exampleQR); err != nil {
		return fmt.Errorf("--pattern: the demo's example code %s is not a personal QR code by these patterns (%w): the first sale could not go through", exampleQR, err)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	tail := technician.NewLogTail(0, 0) // for the technician page
	log := slog.New(tail.Handler(newLogger(stderr, level).Handler()))
	if *dataDir == "" {
		dir, err := os.MkdirTemp("", "tillbox-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*dataDir = dir
	} else if err := makeDataDir(*dataDir, "--data-dir"); err != nil {
		return err
	}

	// The simulator: the only fake, on loopback.
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Approve, Delay: *approveAfter}, Logger: log.With("part", "sim")})
	defer s.Close()
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	stopSim := serve(simLn, s)
	defer stopSim()
	simURL := "http://" + simLn.Addr().String()

	// The box's own listener: POS API and webhooks.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	boxURL := "http://" + ln.Addr().String()

	client, err := epayment.New(epayment.Config{BaseURL: simURL, ClientID: "00000000-0000-4000-8000-000000000001",
		ClientSecret: "demo-secret", SubscriptionKey: "demo-key", MSN: "123456", Logger: log.With("part", "vipps")})
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

	db, err := store.Open(filepath.Join(*dataDir, "tillbox.db"), store.Options{Logger: log.With("part", "store")})
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := agent.New(db, client, agent.Options{Till: "demo", WebhookURL: hookURL, WebhookSecret: reg.Secret, Logger: log.With("part", "agent"),
		CheckScan: func(code string) error { _, err := personalQR.Classify(code); return err }})
	if err != nil {
		return err
	}
	token := epayment.Secret(randomToken())
	sm, err := scanners.Open(scannerCfgs, scanners.Options{Logger: log.With("part", "scanners")})
	if err != nil {
		return err
	}
	defer sm.Close()
	mux := http.NewServeMux()
	mux.Handle("/api/", posapi.New(a, token, log.With("part", "pos-api"), posapi.WithScanners(sm.Statuses)))
	mux.Handle("/webhooks/vipps", a.WebhookHandler())
	stopBox := serve(ln, mux)
	defer stopBox()

	// The customer display, on its own listener as with tillbox run.
	dln, err := net.Listen("tcp", *displayListen)
	if err != nil {
		if dln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	disp, err := startDisplay(dln, a, *lang, personalQR, nil, log.With("part", "display"))
	if err != nil {
		dln.Close()
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = disp.Close(ctx)
	}()

	// The technician page: the demo has no password, so sign-in is with the
	// one-time code printed below (a box writes it to <data_dir>/first-boot-code).
	tln, err := net.Listen("tcp", *consoleListen)
	if err != nil {
		if tln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	tech, err := startTechnician(tln, nil, technician.Options{Agent: a, DB: db, Scanners: sm.Statuses, Classify: personalQR,
		Version: version.String(), Started: time.Now(), Log: tail, Vipps: client, TestPayments: true}, nil, log.With("part", "technician"))
	if err != nil {
		tln.Close()
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = tech.Close(ctx)
	}()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		if err := a.Run(runCtx); err != nil {
			log.Error("agent stopped", "err", err)
		}
	})
	scans := readScans(sm, a, log.With("part", "scanners"), stdout)
	defer scans.wait()
	defer sm.Close()

	fmt.Fprintf(stdout, `tillbox demo: the agent, the embedded Vipps MobilePay simulator and a virtual scanner

  POS API       %[1]s/api/v1   (OpenAPI: %[1]s/api/openapi.yaml)
  POS token     %[2]s
  display       %[7]s   (the customer display: open it in a browser)
  technician    %[8]s   (sign in with the one-time code %[9]s)
  simulator     %[3]s   (every payment: %[3]s/sim/payments)
  database      %[4]s

Ring up a sale as the cash register would:
  curl -s -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
       -d '{"amount":4990,"currency":"NOK","description":"Kaffe"}' %[1]s/api/v1/sales
or type 'sale 4990' here. Then scan: paste a personal QR code here and press Enter, e.g.
  %[5]s
To see a decline, type 'sale 151' (a magic test amount: the approval fails). 'help' lists the commands.
Follow the results as the POS would: tillbox pos --url %[1]s --token %[2]s events --follow

A first sale goes through now by itself (the simulated customer approves after %[6]v):
`, boxURL, token.Reveal(), simURL, *dataDir, exampleQR, *approveAfter, disp.URL(), tech.URL(), tech.console.Code())

	// Report every event as a POS would, from sequence 0.
	outcome := make(chan agent.Event, 1)
	wg.Go(func() { followEvents(runCtx, a, stdout, outcome) })

	first, err := a.CreateSale(ctx, agent.SaleRequest{Amount: 49900, Currency: "NOK", Description: "Kaffe og bolle",
		Lines: []agent.Line{{Name: "Kaffe", Amount: 3900, TaxRate: 1500}, {Name: "Bolle", Amount: 46000, TaxRate: 1500}}})
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond) // the customer reaches for the phone
	if res, err := a.Scan(exampleQR); err != nil {
		// A sale from the POS may be under way: the scan is refused, as a
		// real scan would be, and the demo goes on.
		fmt.Fprintln(stdout, "  scanner      refused:", err)
	} else {
		fmt.Fprintf(stdout, "  scanner      personal QR code scanned → %s %s\n", res.Outcome, res.Reference)
	}

	if *once {
		select {
		case ev := <-outcome:
			if ev.Reference != first.Reference || ev.State != agent.Completed {
				return fmt.Errorf("first sale ended %s", ev.State)
			}
			fmt.Fprintf(stdout, "done: %s captured %s NOK in full.\n", ev.Reference, kroner(ev.Sale.Aggregate.Captured))
			return nil
		case <-time.After(30 * time.Second):
			return errors.New("the first sale did not complete within 30 s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	wg.Go(func() { virtualScanner(runCtx, a, stdin, stdout, simURL) })
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	return nil
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

// virtualScanner reads lines from the terminal: a personal QR code is a
// scan; "sale AMOUNT" rings up a sale as the POS would; "help" lists them.
func virtualScanner(ctx context.Context, a *agent.Agent, in io.Reader, out io.Writer, simURL string) {
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case line == "help" || line == "?":
			fmt.Fprint(out, demoHelp(simURL))
		case line == "sale" || strings.HasPrefix(line, "sale "):
			amount, err := strconv.ParseInt(strings.TrimSpace(line[4:]), 10, 64)
			if err != nil {
				fmt.Fprintln(out, "  usage: sale AMOUNT-IN-ØRE, e.g. sale 4990")
				continue
			}
			s, err := a.CreateSale(ctx, agent.SaleRequest{Amount: amount, Currency: "NOK"})
			if err != nil {
				fmt.Fprintln(out, "  sale refused:", err)
				continue
			}
			fmt.Fprintf(out, "  pos          sale %s of %s NOK: %s\n", s.Reference, kroner(s.Amount), s.State)
		default:
			res, err := a.Scan(line)
			if err != nil {
				fmt.Fprintln(out, "  scanner      refused:", err)
				continue
			}
			fmt.Fprintf(out, "  scanner      scan %s %s\n", res.Outcome, res.Reference)
		}
	}
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
