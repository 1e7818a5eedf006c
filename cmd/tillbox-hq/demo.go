package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/internal/cli"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pglocal"
	"github.com/tillbox/tillbox/display/technician"
)

const demoUsage = `Usage: tillbox-hq demo [--tillbox PATH] [--rate N] [--approve-after D] [-v]

A whole chain on this machine, on 127.0.0.1 only: headquarters (tillbox-hq
run), an embedded NATS server with JetStream, PostgreSQL in a temporary
folder (installed from Debian when missing and run as root), the Vipps
MobilePay simulator with one webhook registration per store relayed by
headquarters, and three boxes (tillbox run) in two stores, each with a
serial scanner the demo scans customers' QR codes into, selling a stream
of sales. It prints the fleet page's address with a login, and the boxes'
POS API and technician page. Ctrl-C stops everything and removes the
temporary folders.

Flags:
`

// demoStores are the demo's chain: three boxes in two stores.
var demoStores = []fleetdemo.Store{
	{ID: "oslo-1", MSN: "100001", Tills: []string{"t1", "t2"}},
	{ID: "bergen-1", MSN: "100002", Tills: []string{"t1"}},
}

// fleetTills are the demo's tills.
func fleetTills() []wire.Till {
	var out []wire.Till
	for _, s := range demoStores {
		for _, t := range s.Tills {
			out = append(out, wire.Till{Chain: demoChain, Store: s.ID, Till: t})
		}
	}
	return out
}

// demoChain is the chain's id in the demo.
const demoChain = "demo"

// demoFallbackTill is the demo's one box that keeps the sales unit's
// client secret, to fall back on when headquarters gives no token; the
// others hold none.
var demoFallbackTill = wire.Till{Chain: demoChain, Store: "bergen-1", Till: "t1"}

// demoUser is the fleet page's login of the demo.
const demoUser = "demo"

type demoFlags struct {
	tillbox      string
	rate         float64
	approveAfter time.Duration
	verbose      bool
}

// runDemo is `tillbox-hq demo`.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f demoFlags
	fs.StringVar(&f.tillbox, "tillbox", "", "the tillbox program (default: tillbox next to tillbox-hq, else on PATH)")
	fs.Float64Var(&f.rate, "rate", 1, "sales a second, all boxes together")
	fs.DurationVar(&f.approveAfter, "approve-after", time.Second, "how long the simulated customer takes to approve in the app")
	fs.BoolVar(&f.verbose, "v", false, "show the output of headquarters and the boxes")
	fs.Usage = func() { fmt.Fprint(fs.Output(), demoUsage); fs.PrintDefaults() }
	if _, err := cli.ParseArgs(fs, args, stdout); err != nil {
		return err
	}
	if f.rate <= 0 || f.rate > 50 {
		return fmt.Errorf("demo: --rate %v: between 0 and 50 sales a second", f.rate)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tillbox, err := findTillbox(f.tillbox, self)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tillbox-hq-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d := &demo{flags: f, stdout: stdout, stderr: stderr, dir: dir, tillbox: tillbox, hqBin: self}
	err = d.run(ctx)
	fmt.Fprintf(stdout, "tillbox-hq demo: stopped; removed %s\n", dir)
	return err
}

// findTillbox is the tillbox program: the one asked for, else the one
// next to tillbox-hq, else on PATH.
func findTillbox(asked, self string) (string, error) {
	if asked != "" {
		if _, err := os.Stat(asked); err != nil {
			return "", fmt.Errorf("demo: --tillbox: %w", err)
		}
		return filepath.Abs(asked)
	}
	beside := filepath.Join(filepath.Dir(self), "tillbox")
	if _, err := os.Stat(beside); err == nil {
		return beside, nil
	}
	if p, err := exec.LookPath("tillbox"); err == nil {
		return filepath.Abs(p)
	}
	return "", fmt.Errorf("demo: no tillbox program next to %s or on PATH: `make build` puts both in bin/, or give --tillbox PATH", self)
}

// demo is one run of `tillbox-hq demo`.
type demo struct {
	flags          demoFlags
	stdout, stderr io.Writer
	dir            string
	tillbox, hqBin string

	pg    *pglocal.Server
	nats  *demoNATS
	chain *fleetdemo.Chain
}

// run starts the engines and the chain, sells until ctx ends, and stops
// everything in the reverse order.
func (d *demo) run(ctx context.Context) error {
	defer d.stop()
	fmt.Fprintln(d.stdout, "tillbox-hq demo: starting PostgreSQL, NATS, headquarters and three boxes …")
	if err := d.startPostgres(ctx); err != nil {
		return err
	}
	var err error
	if d.nats, err = startDemoNATS(d.dir, fleetTills()); err != nil {
		return err
	}
	password := randomSecret()[:12]
	hash, err := technician.HashPassword(password)
	if err != nil {
		return err
	}
	var out io.Writer
	if d.flags.verbose {
		out = cli.SyncWriter(d.stderr)
	}
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	d.chain, err = fleetdemo.Start(startCtx, fleetdemo.Options{
		Chain: demoChain, Stores: demoStores, Dir: filepath.Join(d.dir, "chain"),
		TillboxBin: d.tillbox, HQBin: d.hqBin, NATS: d.nats.options(), PostgresDSN: d.pg.DSN(),
		Users: []fleetdemo.User{{Name: demoUser, PasswordHash: hash}},
		App:   sim.AppPolicy{Action: sim.Approve, Delay: d.flags.approveAfter},
		// Headquarters is the token broker; one box keeps the secret to
		// show the fallback (its technician page: "then: own secret").
		Broker: true, OwnSecret: func(t wire.Till) bool { return t == demoFallbackTill },
		Output: out, Logger: newLogger(d.stderr, slog.LevelWarn).With("component", "demo"),
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return err
	}
	d.banner(password)
	d.sell(ctx)
	return nil
}

// startPostgres starts PostgreSQL in a temporary folder, installing it
// first when it is missing and we are root.
func (d *demo) startPostgres(ctx context.Context) error {
	pg, err := pglocal.Start(pglocal.Options{})
	if errors.Is(err, pglocal.ErrMissing) && os.Geteuid() == 0 {
		fmt.Fprintln(d.stdout, "tillbox-hq demo: PostgreSQL is missing: apt-get install postgresql …")
		if err := pglocal.Install(ctx, d.stderr); err != nil {
			return err
		}
		pg, err = pglocal.Start(pglocal.Options{})
	}
	if err != nil {
		return fmt.Errorf("demo: PostgreSQL: %w", err)
	}
	d.pg = pg
	return nil
}

// sell runs the stream of sales until ctx ends, printing each outcome.
func (d *demo) sell(ctx context.Context) {
	var once sync.Once
	var mu sync.Mutex
	s := d.chain.RunSales(ctx, fleetdemo.SalesOptions{Rate: d.flags.rate, DeclineEvery: 7,
		OnOutcome: func(r fleetdemo.SaleResult) {
			mu.Lock()
			defer mu.Unlock()
			once.Do(func() { fmt.Fprintln(d.stdout, "tillbox-hq demo: sales flowing") })
			fmt.Fprintf(d.stdout, "  %-9s %-7s %-18s %-10s %8s NOK  %5.1f s\n", r.Till.Store, r.Till.Till, r.Reference,
				r.State, kroner(r.Amount), r.Outcome.Sub(r.Created).Seconds())
		}})
	<-ctx.Done()
	s.Stop()
}

// stop stops what run started, the boxes and headquarters first.
func (d *demo) stop() {
	fmt.Fprintln(d.stdout, "tillbox-hq demo: stopping …")
	if d.chain != nil {
		if err := d.chain.Close(); err != nil {
			fmt.Fprintln(d.stderr, "tillbox-hq demo:", err)
		}
	}
	if d.nats != nil {
		d.nats.shutdown()
	}
	if d.pg != nil {
		if err := d.pg.Close(); err != nil {
			fmt.Fprintln(d.stderr, "tillbox-hq demo:", err)
		}
	}
}

// banner says where everything is.
func (d *demo) banner(password string) {
	c := d.chain
	hq := c.HQ().URL()
	fmt.Fprintf(d.stdout, `
tillbox-hq demo: the chain %q runs on this machine

  fleet page    %[2]s/   log in as %[3]s, password %[4]s
                (as a script: curl -c jar -d name=%[3]s -d password=%[4]s %[2]s/login; curl -b jar %[2]s/api/fleet)
                its views: %[2]s/alerts  %[2]s/settings  %[2]s/refunds  %[2]s/actions (a till's: its name)
  headquarters  %[2]s/readyz   %[2]s/metrics   webhooks on %[2]s/webhooks/vipps/{msn}
  NATS          %[5]s (embedded, JetStream in %[6]s)
  PostgreSQL    127.0.0.1:%[7]d, database %[8]s
  simulator     %[9]s   (every payment: %[9]s/sim/payments)

`, demoChain, hq, demoUser, password, d.nats.srv.ClientURL(), d.dir, d.pg.Port(), pglocal.Database, c.SimURL())
	for _, b := range c.Boxes() {
		fmt.Fprintf(d.stdout, "  box %-12s POS %s (token %s)\n", b.Till.Store+"/"+b.Till.Till, b.URL(), b.Token())
		fmt.Fprintf(d.stdout, "  %-16s technician page %s (one-time code %s)\n", "", b.TechnicianURL(), b.FirstBootCode())
	}
	fmt.Fprintf(d.stdout, "\nEach box sells in turn, %.1f sales a second in all: the customer's QR code goes in by the box's\n"+
		"serial scanner, Vipps MobilePay's webhooks reach the box through headquarters, every event lands\n"+
		"in PostgreSQL. Headquarters holds the sales units' keys and hands each box its access token: the\n"+
		"boxes hold no client secret, but %s, which keeps it to fall back on.\n"+
		"Ctrl-C stops everything and removes the temporary folders.\n\n", d.flags.rate, demoFallbackTill.Store+"/"+demoFallbackTill.Till)
}

// kroner formats minor units as 499.00.
func kroner(minor int64) string {
	return fmt.Sprintf("%d.%02d", minor/100, minor%100)
}
