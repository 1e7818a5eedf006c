package hqdb

import (
	"context"
	"fmt"
	"time"
)

// StoreSales is one store's sales of one day in one currency, in minor
// units: Count sales were started, Completed of them took money (captured
// something), Amount is the sum of those completed sales' amounts,
// Captured and Refunded what moved.
type StoreSales struct {
	Store, Currency    string
	Count, Completed   int
	Amount             int64
	Captured, Refunded int64
}

// SalesOn sums chain's sales created on day (its date in loc, the chain's
// time zone) per store and currency, ordered by store and currency.
func (db *DB) SalesOn(ctx context.Context, chain string, day time.Time, loc *time.Location) ([]StoreSales, error) {
	d := day.In(loc)
	from := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
	to := from.AddDate(0, 0, 1)
	rows, err := db.pool.Query(ctx, `SELECT store, currency, count(*),
			count(*) FILTER (WHERE captured > 0),
			COALESCE(sum(amount) FILTER (WHERE captured > 0), 0),
			COALESCE(sum(captured), 0), COALESCE(sum(refunded), 0)
		FROM sales WHERE chain = $1 AND created_at >= $2 AND created_at < $3
		GROUP BY store, currency ORDER BY store, currency`, chain, from, to)
	if err != nil {
		return nil, fmt.Errorf("sales: %w", err)
	}
	defer rows.Close()
	var out []StoreSales
	for rows.Next() {
		var s StoreSales
		if err := rows.Scan(&s.Store, &s.Currency, &s.Count, &s.Completed, &s.Amount, &s.Captured, &s.Refunded); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
