package refunds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Refund is one row of the refunds table (migration 0003_refunds.sql): a
// refund one till asked for a sale another till took.
type Refund struct {
	Key       string
	Asker     wire.Till
	RefundID  string
	Reference string
	Amount    int64 // 0: all that was left
	Owner     wire.Till
	State     string
	Step      int
	Refusal   *wire.RefundRefusal
	Sale      json.RawMessage // the POS API's JSON of the sale, or nil
	Created   time.Time
	Updated   time.Time
}

const refundColumns = `key, asker_store, asker_till, refund_id, reference, amount, owner_store, owner_till,
	state, step, code, message, field, reason, sale, created_at, updated_at`

func scanRefund(chain string, row pgx.Row) (Refund, error) {
	r := Refund{Asker: wire.Till{Chain: chain}, Owner: wire.Till{Chain: chain}}
	var ref wire.RefundRefusal
	var sale []byte
	err := row.Scan(&r.Key, &r.Asker.Store, &r.Asker.Till, &r.RefundID, &r.Reference, &r.Amount, &r.Owner.Store, &r.Owner.Till,
		&r.State, &r.Step, &ref.Code, &ref.Message, &ref.Field, &ref.Reason, &sale, &r.Created, &r.Updated)
	if err != nil {
		return Refund{}, err
	}
	if ref.Code != "" {
		r.Refusal = &ref
	}
	if len(sale) > 0 {
		r.Sale = sale
	}
	return r, nil
}

// find returns the row of key; ok false when there is none.
func find(ctx context.Context, pool *pgxpool.Pool, chain, key string) (Refund, bool, error) {
	r, err := scanRefund(chain, pool.QueryRow(ctx, `SELECT `+refundColumns+` FROM refunds WHERE chain = $1 AND key = $2`, chain, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return Refund{}, false, nil
	}
	if err != nil {
		return Refund{}, false, fmt.Errorf("refunds: %w", err)
	}
	return r, true, nil
}

// insert adds r (step 1) unless its key is there; either way it returns
// the row as it stands.
func insert(ctx context.Context, pool *pgxpool.Pool, chain string, r Refund) (Refund, error) {
	var ref wire.RefundRefusal
	if r.Refusal != nil {
		ref = *r.Refusal
	}
	var sale any
	if len(r.Sale) > 0 {
		sale = string(r.Sale)
	}
	_, err := pool.Exec(ctx, `INSERT INTO refunds (chain, key, asker_store, asker_till, refund_id, reference, amount,
			owner_store, owner_till, state, step, code, message, field, reason, sale)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12, $13, $14, $15::jsonb)
		ON CONFLICT (chain, key) DO NOTHING`,
		chain, r.Key, r.Asker.Store, r.Asker.Till, r.RefundID, r.Reference, r.Amount, r.Owner.Store, r.Owner.Till,
		r.State, ref.Code, ref.Message, ref.Field, ref.Reason, sale)
	if err != nil {
		return Refund{}, fmt.Errorf("refunds: %w", err)
	}
	got, ok, err := find(ctx, pool, chain, r.Key)
	if err == nil && !ok {
		err = fmt.Errorf("refunds: the row of %s is gone", r.Key)
	}
	return got, err
}

// advance moves the row of key to res's state when that comes later than
// its own (one more step), keeping the newest sale the owner showed; it
// returns the row as it stands.
func advance(ctx context.Context, pool *pgxpool.Pool, chain string, res wire.RefundResult) (Refund, error) {
	var ref wire.RefundRefusal
	if res.Refusal != nil {
		ref = *res.Refusal
	}
	var sale any
	if len(res.Sale) > 0 {
		sale = string(res.Sale)
	}
	_, err := pool.Exec(ctx, `UPDATE refunds SET state = $3, step = step + 1, code = $4, message = $5, field = $6,
			reason = $7, sale = COALESCE($8::jsonb, sale), updated_at = now()
		WHERE chain = $1 AND key = $2
		  AND (CASE state WHEN 'queued' THEN 1 WHEN 'accepted' THEN 2 ELSE 3 END) < $9`,
		chain, res.Key, res.State, ref.Code, ref.Message, ref.Field, ref.Reason, sale, wire.RefundRank(res.State))
	if err != nil {
		return Refund{}, fmt.Errorf("refunds: %w", err)
	}
	got, ok, err := find(ctx, pool, chain, res.Key)
	if err == nil && !ok {
		err = fmt.Errorf("refunds: no row of %s", res.Key)
	}
	return got, err
}

// known is what headquarters holds of a reference: the sale's row (its
// till, amounts, whether it reached its final state, its newest event's
// sale), or failing that the till whose reference prefix claims it.
type known struct {
	sale       bool
	owner      wire.Till
	state      string
	captured   int64
	refunded   int64
	final      bool
	saleJSON   json.RawMessage
	claimed    bool // a till's prefix claims the reference
	caughtUp   bool // headquarters holds that till's whole log
	lastSeq    uint64
	atHQ       uint64
	ownerKnown bool
}

// lookup reads what headquarters knows of ref. A sales row counts only
// when its till's reference prefix claims the reference: a box that
// journals a "sale" with another till's reference does not capture that
// till's refunds.
func lookup(ctx context.Context, pool *pgxpool.Pool, chain, ref string) (known, error) {
	k := known{owner: wire.Till{Chain: chain}}
	var sale []byte
	err := pool.QueryRow(ctx, `SELECT s.store, s.till, s.state, s.captured, s.refunded, s.finished_at IS NOT NULL,
			(e.body::jsonb) -> 'data'
		FROM sales s JOIN tills t
		  ON t.chain = s.chain AND t.store = s.store AND t.till = s.till
		  AND t.reference_prefix <> '' AND starts_with(s.reference, t.reference_prefix || '-')
		LEFT JOIN events e
		  ON e.chain = s.chain AND e.store = s.store AND e.till = s.till AND e.seq = s.last_seq
		WHERE s.chain = $1 AND s.reference = $2
		ORDER BY length(t.reference_prefix) DESC, s.updated_at DESC LIMIT 1`, chain, ref).
		Scan(&k.owner.Store, &k.owner.Till, &k.state, &k.captured, &k.refunded, &k.final, &sale)
	switch {
	case err == nil:
		k.sale, k.ownerKnown, k.saleJSON = true, true, sale
		return k, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return k, fmt.Errorf("refunds: the sale: %w", err)
	}
	err = pool.QueryRow(ctx, `SELECT store, till, at_hq, COALESCE((heartbeat ->> 'lastSeq')::bigint, 0)
		FROM tills WHERE chain = $1 AND reference_prefix <> '' AND starts_with($2, reference_prefix || '-')
		ORDER BY length(reference_prefix) DESC LIMIT 1`, chain, ref).
		Scan(&k.owner.Store, &k.owner.Till, &k.atHQ, &k.lastSeq)
	switch {
	case err == nil:
		k.claimed, k.ownerKnown = true, true
		k.caughtUp = k.atHQ >= k.lastSeq
	case !errors.Is(err, pgx.ErrNoRows):
		return k, fmt.Errorf("refunds: the tills: %w", err)
	}
	return k, nil
}

// heardOf returns when the till last beat; nil: never.
func heardOf(ctx context.Context, pool *pgxpool.Pool, t wire.Till) (*time.Time, error) {
	var at *time.Time
	err := pool.QueryRow(ctx, `SELECT heartbeat_at FROM tills WHERE chain = $1 AND store = $2 AND till = $3`,
		t.Chain, t.Store, t.Till).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return at, err
}

// List is the chain's newest refunds asked at another till, newest first,
// for the fleet page.
func List(ctx context.Context, pool *pgxpool.Pool, chain string, limit int) ([]Refund, error) {
	rows, err := pool.Query(ctx, `SELECT `+refundColumns+` FROM refunds WHERE chain = $1
		ORDER BY created_at DESC, key LIMIT $2`, chain, limit)
	if err != nil {
		return nil, fmt.Errorf("refunds: %w", err)
	}
	defer rows.Close()
	var out []Refund
	for rows.Next() {
		r, err := scanRefund(chain, rows)
		if err != nil {
			return nil, fmt.Errorf("refunds: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
