package alerts

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetpage"
)

// evaluateLock is the advisory lock one evaluation of a chain holds (its
// transaction's, with the hash of the chain's name as second key), so
// that of several headquarters processes one at a time writes a chain's
// alerts ("alrt" in ASCII).
const evaluateLock int32 = 0x616c7274

// keepCleared is how long a cleared alert stays in the table.
const keepCleared = 30 * 24 * time.Hour

// Store keeps one chain's alerts in PostgreSQL (tables alerts and
// alert_trends, migration 0005).
type Store struct {
	Pool  *pgxpool.Pool
	Chain string
}

// Change is an alert raised or cleared by [Store.Apply].
type Change struct {
	Alert
	Cleared bool
}

// Trends reads the chain's queue trends.
func (s Store) trends(ctx context.Context, tx pgx.Tx) (map[wire.Till]Trend, error) {
	rows, err := tx.Query(ctx, `SELECT store, till, heard_at, queue, rises, from_at, from_queue
		FROM alert_trends WHERE chain = $1`, s.Chain)
	if err != nil {
		return nil, fmt.Errorf("alert trends: %w", err)
	}
	defer rows.Close()
	out := map[wire.Till]Trend{}
	for rows.Next() {
		t := wire.Till{Chain: s.Chain}
		var tr Trend
		var from *time.Time
		if err := rows.Scan(&t.Store, &t.Till, &tr.HeardAt, &tr.Queue, &tr.Rises, &from, &tr.FromQueue); err != nil {
			return nil, err
		}
		if from != nil {
			tr.From = *from
		}
		out[t] = tr
	}
	return out, rows.Err()
}

// Apply runs one evaluation in one transaction: eval, called once the
// lock is held (so it reads the tills after any evaluation before it was
// committed), gets the queue trends and returns the alerts in force and
// the new trends, or an error that ends the evaluation; alerts not
// yet open are raised (with their Since), open ones get their reason
// updated, open ones no longer in force are cleared at now. ok is false
// (and nothing done) while another headquarters process evaluates.
func (s Store) Apply(ctx context.Context, now time.Time,
	eval func(map[wire.Till]Trend) ([]Alert, map[wire.Till]Trend, error)) (changes []Change, ok bool, err error) {
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("alerts: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, evaluateLock, s.Chain).Scan(&ok); err != nil || !ok {
		return nil, false, err
	}
	trends, err := s.trends(ctx, tx)
	if err != nil {
		return nil, false, err
	}
	found, next, err := eval(trends)
	if err != nil {
		return nil, false, err
	}
	open, err := s.open(ctx, tx)
	if err != nil {
		return nil, false, err
	}
	b := &pgx.Batch{}
	inForce := map[key]bool{}
	for _, a := range found {
		k := keyOf(a)
		inForce[k] = true
		if _, was := open[k]; was {
			b.Queue(`UPDATE alerts SET reason = $5 WHERE chain = $1 AND store = $2 AND till = $3 AND kind = $4
				AND cleared_at IS NULL AND reason <> $5`, a.Till.Chain, a.Till.Store, a.Till.Till, a.Kind, a.Reason)
			continue
		}
		b.Queue(`INSERT INTO alerts (chain, store, till, kind, since, reason, raised_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			a.Till.Chain, a.Till.Store, a.Till.Till, a.Kind, a.Since, a.Reason, now)
		changes = append(changes, Change{Alert: a})
	}
	for k, a := range open {
		if !inForce[k] {
			b.Queue(`UPDATE alerts SET cleared_at = $5 WHERE chain = $1 AND store = $2 AND till = $3 AND kind = $4
				AND cleared_at IS NULL`, a.Till.Chain, a.Till.Store, a.Till.Till, a.Kind, now)
			changes = append(changes, Change{Alert: a, Cleared: true})
		}
	}
	for t, tr := range next {
		var from *time.Time
		if !tr.From.IsZero() {
			from = &tr.From
		}
		b.Queue(`INSERT INTO alert_trends (chain, store, till, heard_at, queue, rises, from_at, from_queue)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (chain, store, till) DO UPDATE SET heard_at = EXCLUDED.heard_at, queue = EXCLUDED.queue,
				rises = EXCLUDED.rises, from_at = EXCLUDED.from_at, from_queue = EXCLUDED.from_queue`,
			t.Chain, t.Store, t.Till, tr.HeardAt, tr.Queue, tr.Rises, from, tr.FromQueue)
	}
	b.Queue(`DELETE FROM alerts WHERE chain = $1 AND cleared_at < $2`, s.Chain, now.Add(-keepCleared))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, false, fmt.Errorf("alerts: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, fmt.Errorf("alerts: %w", err)
	}
	return changes, true, nil
}

type key struct {
	till wire.Till
	kind string
}

func keyOf(a Alert) key { return key{a.Till, a.Kind} }

func (s Store) open(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) (map[key]Alert, error) {
	as, err := s.list(ctx, q, `cleared_at IS NULL`)
	if err != nil {
		return nil, err
	}
	out := make(map[key]Alert, len(as))
	for _, a := range as {
		out[keyOf(a)] = a
	}
	return out, nil
}

// Open lists the chain's open alerts by store, till and kind.
func (s Store) Open(ctx context.Context) ([]Alert, error) {
	return s.list(ctx, s.Pool, `cleared_at IS NULL`)
}

func (s Store) list(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, where string) ([]Alert, error) {
	rows, err := q.Query(ctx, `SELECT store, till, kind, since, reason FROM alerts
		WHERE chain = $1 AND `+where+` ORDER BY store, till, kind`, s.Chain)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a := Alert{Till: wire.Till{Chain: s.Chain}}
		if err := rows.Scan(&a.Till.Store, &a.Till.Till, &a.Kind, &a.Since, &a.Reason); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	sortAlerts(out)
	return out, rows.Err()
}

// Page is the fleet page's alerts on the store.
type Page struct{ Store Store }

var _ fleetpage.AlertSource = Page{}

// Alerts lists the open alerts for the fleet page.
func (p Page) Alerts(ctx context.Context) ([]fleetpage.Alert, error) {
	as, err := p.Store.Open(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]fleetpage.Alert, len(as))
	for i, a := range as {
		out[i] = fleetpage.Alert{Store: a.Till.Store, Till: a.Till.Till, Kind: a.Kind, Since: a.Since, Reason: a.Reason}
	}
	return out, nil
}
