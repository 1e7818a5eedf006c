package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tillbox/tillbox/cmd/internal/cli"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/recon"
)

// The reconciliation against the settlement ledger ([recon],
// docs/chain.md "Reconciliation"): `tillbox-hq run` reconciles the recent
// days every recon.every; `tillbox-hq recon --day D` one day at once.

// ReconToken is the Report API's access token of sales unit msn; refused,
// when not empty, is a token the API refused (its source drops it and
// fetches another, epayment.Client.AccessToken).
type ReconToken func(ctx context.Context, msn, refused string) (string, error)

// reconStore is the chain's reconciliation in PostgreSQL.
func reconStore(db *hqdb.DB, c *hqconfig.Config) recon.Store {
	return recon.Store{Pool: db.Pool(), Chain: c.HQ.Chain}
}

// reconUnits are the configured units with their Report API; none without
// a token source.
// With no token source given, the units that hold their keys are
// reconciled with tokens of their own (unitTokens).
func reconUnits(c *hqconfig.Config, token ReconToken) ([]recon.Unit, error) {
	own := token == nil
	if own {
		token = unitTokens(c)
	}
	if token == nil {
		return nil, nil
	}
	var us []recon.Unit
	for _, u := range c.Units {
		if own && !u.HasCredentials() {
			continue
		}
		rep, err := newReport(c.ReportURL(), u.MSN, "", token)
		if err != nil {
			return nil, err
		}
		us = append(us, recon.Unit{MSN: u.MSN, Report: rep})
	}
	return us, nil
}

// reconRunner is the periodic reconciliation of c's units.
func reconRunner(db *hqdb.DB, c *hqconfig.Config, token ReconToken, log *slog.Logger) (*recon.Runner, error) {
	units, err := reconUnits(c, token)
	if err != nil {
		return nil, err
	}
	r := c.Recon
	return &recon.Runner{Store: reconStore(db, c), Location: c.Location(), Units: units, Every: r.Every.D(),
		Grace: r.Grace.D(), Days: r.Days, Log: log}, nil
}

// runRecon reconciles the recent days until ctx ends (work, once the
// schema is there).
func (m *Main) runRecon(ctx context.Context) {
	log := m.log.With("component", "recon")
	r, err := reconRunner(m.db, m.Config, m.ReconToken, log)
	switch {
	case err != nil:
		log.Error("reconciliation off", "err", err)
		return
	case len(r.Units) == 0:
		log.Info("reconciliation off: no [[unit]] holds client_id, client_secret and subscription_key")
		return
	}
	r.Run(ctx)
}

// watchRecon adds the reconciliation's differences to /metrics (open).
func (m *Main) watchRecon() {
	c := m.Config
	m.metrics.WatchRecon(func(ctx context.Context) ([]recon.Unmatched, time.Time, error) {
		since := time.Now().In(c.Location()).AddDate(0, 0, 1-c.Recon.Days).Format(time.DateOnly)
		return reconStore(m.db, c).UnmatchedSince(ctx, since)
	}, m.log.With("component", "metrics"))
}

const reconUsage = `Usage: tillbox-hq recon --day YYYY-MM-DD [--config FILE] [--msn MSN]

Reconciles one ledger date (in hq.time_zone) of every sales unit (or one)
against the Vipps MobilePay Report API's settlement ledger now, replacing
the day's earlier result, and prints each unit's result. The fleet page
(/recon) and /recon.csv show the lines.

Flags:
`

// runReconCmd is `tillbox-hq recon`.
func runReconCmd(ctx context.Context, args []string, stdout, stderr io.Writer, token ReconToken) error {
	fs := flag.NewFlagSet("recon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", hqconfig.DefaultPath, "the configuration file")
	day := fs.String("day", "", "the ledger date, YYYY-MM-DD (required)")
	msn := fs.String("msn", "", "only this sales unit")
	fs.Usage = func() { fmt.Fprint(fs.Output(), reconUsage); fs.PrintDefaults() }
	if _, err := cli.ParseArgs(fs, args, stdout); err != nil {
		return err
	}
	if _, err := time.Parse(time.DateOnly, *day); err != nil {
		fmt.Fprintln(stderr, "tillbox-hq recon: --day YYYY-MM-DD is required")
		return cli.ErrUsage
	}
	c, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	db, err := hqdb.Open(ctx, c.Postgres.DSN.Reveal())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	r, err := reconRunner(db, c, token, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	if len(r.Units) == 0 {
		return errors.New("recon: no [[unit]] holds client_id, client_secret and subscription_key (the Report API takes its access token)")
	}
	var errs []error
	n := 0
	for _, u := range r.Units {
		if *msn != "" && u.MSN != *msn {
			continue
		}
		n++
		d, err := r.RunDay(ctx, u, *day)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		printDay(stdout, d)
	}
	if n == 0 {
		return fmt.Errorf("recon: no [[unit]] with msn %q", *msn)
	}
	return errors.Join(errs...)
}

// printDay is one unit's day in a few lines.
func printDay(w io.Writer, d recon.Day) {
	counts := map[string]int{}
	for _, l := range d.Lines {
		counts[l.Kind]++
	}
	closed := "not closed yet"
	if d.Closed {
		closed = "closed"
	}
	fmt.Fprintf(w, "%s msn %s (store %s, ledger %s, %s): captured %s, refunded %s, fee %s, payout %s %s\n",
		d.Day, d.MSN, d.Store, d.LedgerID, closed, recon.Decimal(d.LedgerCaptured), recon.Decimal(d.LedgerRefunded),
		recon.Decimal(d.Fee), recon.Decimal(d.Payout), d.Currency)
	for _, k := range recon.Kinds {
		fmt.Fprintf(w, "  %-20s %d\n", k, counts[k])
	}
	for _, l := range d.Lines {
		if l.Kind != recon.Matched {
			fmt.Fprintf(w, "  %s %s %s/%s difference %s\n", l.Kind, l.Reference, l.Store, l.Till, recon.Decimal(l.Difference))
		}
	}
}
