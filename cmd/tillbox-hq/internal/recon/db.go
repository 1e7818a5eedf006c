package recon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the reconciliation's tables of one chain (migration 0008).
type Store struct {
	Pool  *pgxpool.Pool
	Chain string
}

// Save replaces the MSN's result of d.Day with d, in one transaction: a
// reader sees the earlier run or this one, never a mix.
func (s Store) Save(ctx context.Context, d Day) error {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM recon_lines WHERE chain = $1 AND day = $2 AND msn = $3`,
			s.Chain, d.Day, d.MSN); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO recon_days (chain, day, msn, store, ledger_id, currency, closed,
				ledger_captured, ledger_refunded, journal_captured, journal_refunded, fee, payout, run_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (chain, day, msn) DO UPDATE SET store = EXCLUDED.store, ledger_id = EXCLUDED.ledger_id,
				currency = EXCLUDED.currency, closed = EXCLUDED.closed,
				ledger_captured = EXCLUDED.ledger_captured, ledger_refunded = EXCLUDED.ledger_refunded,
				journal_captured = EXCLUDED.journal_captured, journal_refunded = EXCLUDED.journal_refunded,
				fee = EXCLUDED.fee, payout = EXCLUDED.payout, run_at = EXCLUDED.run_at`,
			s.Chain, d.Day, d.MSN, d.Store, d.LedgerID, d.Currency, d.Closed, d.LedgerCaptured, d.LedgerRefunded,
			d.JournalCaptured, d.JournalRefunded, d.Fee, d.Payout, d.RunAt); err != nil {
			return err
		}
		if len(d.Lines) == 0 {
			return nil
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"recon_lines"}, []string{"chain", "day", "msn", "reference", "kind",
			"store", "till", "currency", "journal_captured", "journal_refunded", "ledger_captured", "ledger_refunded",
			"difference"}, pgx.CopyFromSlice(len(d.Lines), func(i int) ([]any, error) {
			l := d.Lines[i]
			day, err := time.Parse(time.DateOnly, d.Day)
			return []any{s.Chain, day, d.MSN, l.Reference, l.Kind, l.Store, l.Till, l.Currency, l.JournalCaptured,
				l.JournalRefunded, l.LedgerCaptured, l.LedgerRefunded, l.Difference}, err
		}))
		return err
	})
	if err != nil {
		return fmt.Errorf("recon: saving %s of %s: %w", d.Day, d.MSN, err)
	}
	return nil
}

// Done tells whether the MSN's day needs no more runs: its ledger date
// was closed at a run later than grace after the day's end.
func (s Store) Done(ctx context.Context, day, msn string, end time.Time, grace time.Duration) (bool, error) {
	var n int
	err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM recon_days WHERE chain = $1 AND day = $2 AND msn = $3
		AND closed AND run_at >= $4`, s.Chain, day, msn, end.Add(grace)).Scan(&n)
	return n > 0, err
}

// Summary is one store's day (one MSN's, when a store has several): the
// ledger's totals, fee and payout, and count and amount per kind.
type Summary struct {
	Day                              string
	Store, MSN, Currency, LedgerID   string
	Closed                           bool
	LedgerCaptured, LedgerRefunded   int64
	JournalCaptured, JournalRefunded int64
	Fee, Payout                      int64
	RunAt                            time.Time
	Counts, Amounts                  map[string]int64 // per kind
}

// Net is what the ledger took in less refunds and fees.
func (s Summary) Net() int64 { return s.LedgerCaptured - s.LedgerRefunded - s.Fee }

// Unmatched is the number of lines that are a difference.
func (s Summary) Unmatched() int64 {
	var n int64
	for _, k := range Differences {
		n += s.Counts[k]
	}
	return n
}

// Summaries are the days from..to (inclusive, YYYY-MM-DD) of store (all
// stores when empty), by day (newest first), store and MSN.
func (s Store) Summaries(ctx context.Context, from, to, store string) ([]Summary, error) {
	rows, err := s.Pool.Query(ctx, `SELECT to_char(d.day, 'YYYY-MM-DD'), d.store, d.msn, d.currency, d.ledger_id,
			d.closed, d.ledger_captured, d.ledger_refunded, d.journal_captured, d.journal_refunded, d.fee, d.payout,
			d.run_at, COALESCE(l.kind, ''), COALESCE(l.n, 0), COALESCE(l.amount, 0)
		FROM recon_days d LEFT JOIN LATERAL (
			SELECT kind, count(*) AS n, sum(CASE
				WHEN kind = 'missing_in_journal' THEN abs(ledger_captured - ledger_refunded)
				WHEN kind = 'amount_differs' THEN abs(difference)
				WHEN kind = 'matched' THEN ledger_captured - ledger_refunded
				ELSE abs(journal_captured - journal_refunded) END)::bigint AS amount
			FROM recon_lines WHERE chain = d.chain AND day = d.day AND msn = d.msn GROUP BY kind) l ON true
		WHERE d.chain = $1 AND d.day BETWEEN $2 AND $3 AND ($4 = '' OR d.store = $4)
		ORDER BY d.day DESC, d.store, d.msn, l.kind`, s.Chain, from, to, store)
	if err != nil {
		return nil, fmt.Errorf("recon: the days: %w", err)
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var x Summary
		var kind string
		var n, amount int64
		if err := rows.Scan(&x.Day, &x.Store, &x.MSN, &x.Currency, &x.LedgerID, &x.Closed, &x.LedgerCaptured,
			&x.LedgerRefunded, &x.JournalCaptured, &x.JournalRefunded, &x.Fee, &x.Payout, &x.RunAt,
			&kind, &n, &amount); err != nil {
			return nil, fmt.Errorf("recon: the days: %w", err)
		}
		if k := len(out) - 1; k < 0 || out[k].Day != x.Day || out[k].MSN != x.MSN {
			x.Counts, x.Amounts = map[string]int64{}, map[string]int64{}
			out = append(out, x)
		}
		if kind != "" {
			last := &out[len(out)-1]
			last.Counts[kind], last.Amounts[kind] = n, amount
		}
	}
	return out, rows.Err()
}

// Lines are the lines of day of store (all when empty), by store, till
// and reference; only those of kind when it is not empty.
func (s Store) Lines(ctx context.Context, day, store, kind string) ([]Line, error) {
	rows, err := s.Pool.Query(ctx, `SELECT to_char(day, 'YYYY-MM-DD'), msn, reference, kind, store, till, currency,
			journal_captured, journal_refunded, ledger_captured, ledger_refunded, difference
		FROM recon_lines WHERE chain = $1 AND day = $2 AND ($3 = '' OR store = $3) AND ($4 = '' OR kind = $4)
		ORDER BY store, till, reference`, s.Chain, day, store, kind)
	if err != nil {
		return nil, fmt.Errorf("recon: the lines: %w", err)
	}
	defer rows.Close()
	var out []Line
	for rows.Next() {
		var l Line
		if err := rows.Scan(&l.Day, &l.MSN, &l.Reference, &l.Kind, &l.Store, &l.Till, &l.Currency, &l.JournalCaptured,
			&l.JournalRefunded, &l.LedgerCaptured, &l.LedgerRefunded, &l.Difference); err != nil {
			return nil, fmt.Errorf("recon: the lines: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Sale is one sale as headquarters has it, with the changes of its money
// (the drill-down from a line).
type Sale struct {
	Store, Till, Reference, MSN, Currency, State string
	Amount, Captured, Refunded                   int64
	Created, Updated                             time.Time
	Changes                                      []Change
}

// Change is one "sale" event of a sale: its state and money after it.
type Change struct {
	Seq                uint64
	At                 time.Time
	State              string
	Captured, Refunded int64
}

// ErrNoSale is [Store.Sale]'s error for a sale headquarters does not have.
var ErrNoSale = errors.New("recon: no such sale")

// Sale reads a sale and its events.
func (s Store) Sale(ctx context.Context, store, till, reference string) (Sale, error) {
	x := Sale{Store: store, Till: till, Reference: reference}
	err := s.Pool.QueryRow(ctx, `SELECT msn, currency, state, amount, captured, refunded, created_at, updated_at
		FROM sales WHERE chain = $1 AND store = $2 AND till = $3 AND reference = $4`, s.Chain, store, till, reference).
		Scan(&x.MSN, &x.Currency, &x.State, &x.Amount, &x.Captured, &x.Refunded, &x.Created, &x.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return x, ErrNoSale
	}
	if err != nil {
		return x, fmt.Errorf("recon: the sale: %w", err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT seq, at, state,
			COALESCE((body::jsonb #>> '{data,aggregate,captured}')::bigint, 0),
			COALESCE((body::jsonb #>> '{data,aggregate,refunded}')::bigint, 0)
		FROM events WHERE chain = $1 AND store = $2 AND till = $3 AND reference = $4 AND kind = 'sale'
		ORDER BY seq`, s.Chain, store, till, reference)
	if err != nil {
		return x, fmt.Errorf("recon: the sale's events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c Change
		var seq int64
		if err := rows.Scan(&seq, &c.At, &c.State, &c.Captured, &c.Refunded); err != nil {
			return x, err
		}
		c.Seq = uint64(seq)
		x.Changes = append(x.Changes, c)
	}
	return x, rows.Err()
}

// Unmatched is the count and amount (minor units, positive) of one kind of
// difference of a store: Prometheus' series.
type Unmatched struct {
	Store, Kind string
	Count       int64
	Amount      int64
}

// UnmatchedSince sums the differences of the days from day on, per store
// that has a day reconciled since (every kind of difference, zeros
// included), and tells when the last run was (zero: never).
func (s Store) UnmatchedSince(ctx context.Context, day string) ([]Unmatched, time.Time, error) {
	var last *time.Time
	if err := s.Pool.QueryRow(ctx, `SELECT max(run_at) FROM recon_days WHERE chain = $1`, s.Chain).Scan(&last); err != nil {
		return nil, time.Time{}, fmt.Errorf("recon: %w", err)
	}
	rows, err := s.Pool.Query(ctx, `WITH stores AS (
			SELECT DISTINCT store FROM recon_days WHERE chain = $1 AND day >= $2
			UNION SELECT DISTINCT store FROM recon_lines WHERE chain = $1 AND day >= $2),
		kinds AS (SELECT unnest($3::text[]) AS kind)
		SELECT st.store, k.kind, count(l.reference), COALESCE(sum(CASE
			WHEN l.kind = 'missing_in_journal' THEN abs(l.ledger_captured - l.ledger_refunded)
			WHEN l.kind = 'amount_differs' THEN abs(l.difference)
			ELSE abs(l.journal_captured - l.journal_refunded) END), 0)::bigint
		FROM stores st CROSS JOIN kinds k
		LEFT JOIN recon_lines l ON l.chain = $1 AND l.day >= $2 AND l.store = st.store AND l.kind = k.kind
		GROUP BY st.store, k.kind ORDER BY st.store, k.kind`, s.Chain, day, Differences)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("recon: %w", err)
	}
	defer rows.Close()
	var out []Unmatched
	for rows.Next() {
		var u Unmatched
		if err := rows.Scan(&u.Store, &u.Kind, &u.Count, &u.Amount); err != nil {
			return nil, time.Time{}, err
		}
		out = append(out, u)
	}
	var at time.Time
	if last != nil {
		at = *last
	}
	return out, at, rows.Err()
}
