package recon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Ledger is one settlement ledger of the Report API (reportapi.Ledger).
type Ledger struct {
	ID, Currency string
	MSNs         []string
}

// Report is the Report API as the reconciliation reads it
// (internal/reportapi's Client, adapted): the ledgers the unit's keys may
// read, and the rows of a ledger date of topic "funds" or "fees" (closed:
// the date is complete; no rows and not closed: not available yet).
type Report interface {
	Ledgers(ctx context.Context) ([]Ledger, error)
	Day(ctx context.Context, ledgerID, topic, ledgerDate string) (rows []Row, closed bool, err error)
}

// Unit is one sales unit to reconcile and its Report API.
type Unit struct {
	MSN    string
	Report Report
}

// Runner reconciles the units' recent days periodically.
type Runner struct {
	Store    Store
	Location *time.Location // the chain's time zone: its ledger dates
	Units    []Unit
	// Every is how often the recent days are run again (default 1 h).
	Every time.Duration
	// Grace is how long a journaled movement may be missing from the
	// ledger before it is called missing (default 6 h).
	Grace time.Duration
	// Days is how many days back from today are run (default 7),
	// skipping the days already done (closed and past their grace).
	Days int
	Log  *slog.Logger
	Now  func() time.Time // nil: time.Now
	// Ran, when set, is called after each round with its error.
	Ran func(error)
}

func (r *Runner) defaults() {
	if r.Every <= 0 {
		r.Every = time.Hour
	}
	if r.Grace < 0 {
		r.Grace = 0
	}
	if r.Days <= 0 {
		r.Days = 7
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Location == nil {
		r.Location = time.UTC
	}
}

// Run runs a round at once and then every r.Every until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	r.defaults()
	t := time.NewTicker(r.Every)
	defer t.Stop()
	for {
		err := r.Once(ctx)
		if err != nil && ctx.Err() == nil {
			r.Log.Warn("reconciliation: a round failed; next round later", "err", err, "every", r.Every)
		}
		if r.Ran != nil {
			r.Ran(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once runs every unit's last r.Days days not done yet.
func (r *Runner) Once(ctx context.Context) error {
	r.defaults()
	today := r.Now().In(r.Location)
	var errs []error
	for _, u := range r.Units {
		for i := range r.Days {
			day := today.AddDate(0, 0, -i).Format(time.DateOnly)
			_, to, _ := DayBounds(day, r.Location)
			done, err := r.Store.Done(ctx, day, u.MSN, to, r.Grace)
			if err != nil {
				return err
			}
			if done {
				continue
			}
			if _, err := r.RunDay(ctx, u, day); err != nil {
				errs = append(errs, err)
				break // the unit's API fails: its older days wait for the next round
			}
		}
	}
	return errors.Join(errs...)
}

// RunDay reconciles unit's ledger date day (YYYY-MM-DD) and stores the
// result, replacing an earlier one.
func (r *Runner) RunDay(ctx context.Context, u Unit, day string) (Day, error) {
	r.defaults()
	from, to, err := DayBounds(day, r.Location)
	if err != nil {
		return Day{}, err
	}
	ledgers, err := u.Report.Ledgers(ctx)
	if err != nil {
		return Day{}, fmt.Errorf("recon: %s: the ledgers: %w", u.MSN, err)
	}
	i := slices.IndexFunc(ledgers, func(l Ledger) bool { return slices.Contains(l.MSNs, u.MSN) })
	if i < 0 {
		return Day{}, fmt.Errorf("recon: %s: no ledger settles for this sales unit", u.MSN)
	}
	led := ledgers[i]
	rows, closed, err := u.Report.Day(ctx, led.ID, "funds", day)
	if err != nil {
		return Day{}, fmt.Errorf("recon: %s: the funds of %s: %w", u.MSN, day, err)
	}
	if !slices.ContainsFunc(rows, func(x Row) bool { return x.EntryType == EntryFeesRetained || x.EntryType == EntryCaptureFee }) {
		fees, _, err := u.Report.Day(ctx, led.ID, "fees", day)
		if err != nil {
			return Day{}, fmt.Errorf("recon: %s: the fees of %s: %w", u.MSN, day, err)
		}
		for _, f := range fees {
			if f.EntryType == EntryCaptureFee {
				rows = append(rows, f)
			}
		}
	}
	journal, err := Journal(ctx, r.Store.Pool, r.Store.Chain, u.MSN, from, to)
	if err != nil {
		return Day{}, err
	}
	place, err := Places(ctx, r.Store.Pool, r.Store.Chain, u.MSN)
	if err != nil {
		return Day{}, err
	}
	grace := r.Grace
	if len(rows) == 0 && !closed {
		grace = 1 << 62 // the date is not available yet: nothing is missing from it
	}
	now := r.Now()
	d := Match(day, u.MSN, journal, rows, now, grace, place.Of)
	d.Store, d.LedgerID, d.Closed, d.RunAt = place.Store, led.ID, closed, now
	if d.Currency == "" {
		d.Currency = led.Currency
	}
	if err := r.Store.Save(ctx, d); err != nil {
		return Day{}, err
	}
	r.Log.Info("reconciliation", "msn", u.MSN, "day", day, "closed", closed, "lines", len(d.Lines),
		"differences", differences(d))
	return d, nil
}

func differences(d Day) int {
	n := 0
	for _, l := range d.Lines {
		if slices.Contains(Differences, l.Kind) {
			n++
		}
	}
	return n
}
