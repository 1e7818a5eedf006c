package recon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DayBounds are the start and end of day (YYYY-MM-DD) in loc.
func DayBounds(day string, loc *time.Location) (from, to time.Time, err error) {
	d, err := time.ParseInLocation(time.DateOnly, day, loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("recon: day %q is not YYYY-MM-DD", day)
	}
	return d, d.AddDate(0, 0, 1), nil
}

// Journal is what the chain's tills of sales unit msn journaled on day
// (its bounds from and to): per sale, how much its captured and refunded
// amounts moved between the day's start and its end, from the aggregate
// of each "sale" event (its time is the box's). A sale is the MSN's by
// the sales row's msn, or by its till's when the row has none yet. Only
// sales made in the 400 days before the day are read (a refund may come up
// to 365 days after the sale; the index on sales' created_at bounds the
// scan).
func Journal(ctx context.Context, pool *pgxpool.Pool, chain, msn string, from, to time.Time) ([]Movement, error) {
	rows, err := pool.Query(ctx, `WITH s AS (
			SELECT s.store, s.till, s.reference, s.currency FROM sales s
			LEFT JOIN tills t ON t.chain = s.chain AND t.store = s.store AND t.till = s.till
			WHERE s.chain = $1 AND (s.msn = $2 OR (s.msn = '' AND t.msn = $2))
				AND s.updated_at >= $3 AND s.created_at < $4 AND s.created_at >= $3 - interval '400 days')
		SELECT e.store, e.till, e.reference, s.currency, e.at,
			COALESCE((e.body::jsonb #>> '{data,aggregate,captured}')::bigint, 0),
			COALESCE((e.body::jsonb #>> '{data,aggregate,refunded}')::bigint, 0)
		FROM events e JOIN s ON e.store = s.store AND e.till = s.till AND e.reference = s.reference
		WHERE e.chain = $1 AND e.kind = 'sale' AND e.at < $4
		ORDER BY e.store, e.till, e.reference, e.seq`, chain, msn, from, to)
	if err != nil {
		return nil, fmt.Errorf("recon: the journal: %w", err)
	}
	defer rows.Close()
	var out []Movement
	var cur Movement
	var startC, startR, endC, endR int64
	flush := func() {
		if cur.Reference == "" {
			return
		}
		cur.Captured, cur.Refunded = endC-startC, endR-startR
		if cur.Captured != 0 || cur.Refunded != 0 {
			out = append(out, cur)
		}
	}
	for rows.Next() {
		var m Movement
		var at time.Time
		var c, r int64
		if err := rows.Scan(&m.Store, &m.Till, &m.Reference, &m.Currency, &at, &c, &r); err != nil {
			return nil, fmt.Errorf("recon: the journal: %w", err)
		}
		if m.Store != cur.Store || m.Till != cur.Till || m.Reference != cur.Reference {
			flush()
			cur, startC, startR, endC, endR = m, 0, 0, 0, 0
		}
		if at.Before(from) {
			startC, startR = c, r
		} else if c != endC || r != endR {
			cur.Last = at
		}
		endC, endR = c, r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recon: the journal: %w", err)
	}
	flush()
	return out, nil
}

// Place is where a reference no till journaled was most likely made: the
// till whose reference prefix starts it, else the MSN's store.
type Place struct {
	Store    string
	prefixes []prefix
}

type prefix struct{ prefix, store, till string }

// Places reads the MSN's tills: their stores (the first by name is the
// MSN's store) and reference prefixes.
func Places(ctx context.Context, pool *pgxpool.Pool, chain, msn string) (*Place, error) {
	rows, err := pool.Query(ctx, `SELECT store, till, reference_prefix FROM tills
		WHERE chain = $1 AND msn = $2 ORDER BY store, till`, chain, msn)
	if err != nil {
		return nil, fmt.Errorf("recon: the tills: %w", err)
	}
	defer rows.Close()
	p := &Place{}
	for rows.Next() {
		var x prefix
		if err := rows.Scan(&x.store, &x.till, &x.prefix); err != nil {
			return nil, err
		}
		if p.Store == "" {
			p.Store = x.store
		}
		if x.prefix != "" {
			p.prefixes = append(p.prefixes, x)
		}
	}
	return p, rows.Err()
}

// Of is the store and till of reference (the till empty when no prefix
// claims it).
func (p *Place) Of(reference string) (store, till string) {
	for _, x := range p.prefixes {
		if strings.HasPrefix(reference, x.prefix+"-") {
			return x.store, x.till
		}
	}
	return p.Store, ""
}
