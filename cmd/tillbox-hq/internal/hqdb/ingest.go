package hqdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	json "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Event is one event of a box's log as it arrived from the journal stream.
type Event struct {
	Till      wire.Till
	Seq       uint64
	Reference string
	Kind      string
	State     string
	At        time.Time
	// Body is the event exactly as the box published it (its log's JSON).
	Body []byte
	// StreamSeq is the message's sequence in the journal stream.
	StreamSeq uint64
	// Sale is the sale's snapshot of a "sale" event once decoded
	// ([Event.DecodeSale]); nil for other kinds, and for a sale event
	// whose snapshot was not decoded (a newer one of the sale is in the
	// same batch). [DB.Ingest] writes a sale from the newest decoded one.
	Sale *agent.Sale
	data json.RawMessage
}

// boxEvent is the JSON of an event in a box's log (store.Event).
type boxEvent struct {
	Seq       uint64          `json:"seq"`
	Reference string          `json:"reference"`
	Kind      string          `json:"kind"`
	State     string          `json:"state"`
	Data      json.RawMessage `json:"data"`
	At        time.Time       `json:"at"`
}

// ParseEvent reads the body of a journal message of till t, the sale's
// snapshot of a "sale" event included.
func ParseEvent(t wire.Till, body []byte, streamSeq uint64) (Event, error) {
	ev, err := ReadEvent(t, body, streamSeq)
	if err == nil {
		err = ev.DecodeSale()
	}
	if err != nil {
		return Event{}, err
	}
	return ev, nil
}

// ReadEvent reads the body of a journal message of till t but leaves a
// sale's snapshot undecoded: the ingest decodes only the newest of each
// sale in a batch ([NewestOfEachSale]), the one it writes.
func ReadEvent(t wire.Till, body []byte, streamSeq uint64) (Event, error) {
	var e boxEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, fmt.Errorf("event of %s: not the JSON of an event: %w", t, err)
	}
	if e.Seq == 0 || e.Kind == "" || e.At.IsZero() {
		return Event{}, fmt.Errorf("event of %s: seq, kind and at are required", t)
	}
	if e.Kind == "sale" && (len(e.Data) == 0 || e.Data[0] != '{') {
		return Event{}, fmt.Errorf("event %d of %s: a sale event without a sale", e.Seq, t)
	}
	return Event{Till: t, Seq: e.Seq, Reference: e.Reference, Kind: e.Kind, State: e.State, At: e.At,
		Body: body, StreamSeq: streamSeq, data: e.Data}, nil
}

// DecodeSale decodes the sale's snapshot of a "sale" event into e.Sale
// (nothing for other kinds, or when done already).
func (e *Event) DecodeSale() error {
	if e.Kind != "sale" || e.Sale != nil {
		return nil
	}
	var s agent.Sale
	if err := json.Unmarshal(e.data, &s); err != nil {
		return fmt.Errorf("event %d of %s: the sale does not decode: %w", e.Seq, e.Till, err)
	}
	if s.Reference == "" {
		s.Reference = e.Reference
	}
	e.Sale = &s
	return nil
}

// NewestOfEachSale is the index in evs of the newest "sale" event of each
// sale (by till and reference), in no particular order.
func NewestOfEachSale(evs []Event) []int {
	type key struct {
		till wire.Till
		ref  string
	}
	newest := map[key]int{}
	for i, e := range evs {
		if e.Kind != "sale" {
			continue
		}
		k := key{e.Till, e.Reference}
		if j, ok := newest[k]; !ok || evs[j].Seq < e.Seq {
			newest[k] = i
		}
	}
	out := make([]int, 0, len(newest))
	for _, i := range newest {
		out = append(out, i)
	}
	return out
}

// Ingested is what one batch changed.
type Ingested struct {
	New, Duplicates int // events stored, events already there
}

// Ingest writes a batch of events in one transaction: each event once
// (a repeated one changes nothing), each sale from its newest event, and
// each till's newest stored sequence. Either all of it is committed or
// nothing; the caller acknowledges the messages only after it returns nil.
// Three statements whatever the batch's size (arrays unnested).
func (db *DB) Ingest(ctx context.Context, evs []Event) (Ingested, error) {
	var res Ingested
	if len(evs) == 0 {
		return res, nil
	}
	// Every writer locks the rows of sales and tills in one order (the
	// lists below are sorted), so two loops or two headquarters writing
	// the same tills do not deadlock. The events need no order: the COPY
	// inserts new keys only (it fails whole on one stored already).
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		inserted, err := copyEvents(ctx, tx, evs)
		if err != nil {
			return err
		}
		if inserted < 0 { // one of them is there already: each unless it is there, in order
			queueEvents(b, sortedEvents(evs)).Exec(func(ct pgconn.CommandTag) error {
				inserted = ct.RowsAffected()
				return nil
			})
		}
		if sales := newestSales(evs); len(sales) > 0 {
			queueSales(b, sales)
		}
		queueTills(b, newestSeqs(evs))
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		res = Ingested{New: int(inserted), Duplicates: len(evs) - int(inserted)}
		return nil
	})
	if err != nil {
		return Ingested{}, fmt.Errorf("ingest: %w", err)
	}
	return res, nil
}

// eventColumns are the columns an event's row is written with.
var eventColumns = []string{"chain", "store", "till", "seq", "reference", "kind", "state", "at", "body", "stream_seq"}

// copyEvents writes evs with COPY, PostgreSQL's fastest way in, under a
// savepoint: when one of them is stored already (a redelivery) the COPY
// fails whole and is rolled back, and copyEvents returns -1 for the
// caller to insert them each unless it is there.
func copyEvents(ctx context.Context, tx pgx.Tx, evs []Event) (int64, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return 0, err
	}
	n, err := sp.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) {
		e := &evs[i]
		return []any{e.Till.Chain, e.Till.Store, e.Till.Till, int64(e.Seq), e.Reference, e.Kind, e.State, e.At,
			string(e.Body), int64(e.StreamSeq)}, nil
	}))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		if err := sp.Rollback(ctx); err != nil {
			return 0, err
		}
		return -1, nil
	}
	if err != nil {
		_ = sp.Rollback(ctx)
		return 0, err
	}
	return n, sp.Commit(ctx)
}

// queueEvents inserts evs, each unless it is there.
func queueEvents(b *pgx.Batch, evs []Event) *pgx.QueuedQuery {
	n := len(evs)
	chain, store, till, ref, kind, state, body := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seq, streamSeq, at := make([]int64, n), make([]int64, n), make([]time.Time, n)
	for i, e := range evs {
		chain[i], store[i], till[i], seq[i] = e.Till.Chain, e.Till.Store, e.Till.Till, int64(e.Seq)
		ref[i], kind[i], state[i], at[i], body[i], streamSeq[i] = e.Reference, e.Kind, e.State, e.At, string(e.Body), int64(e.StreamSeq)
	}
	return b.Queue(`INSERT INTO events (chain, store, till, seq, reference, kind, state, at, body, stream_seq)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
			$8::timestamptz[], $9::text[], $10::bigint[])
		ON CONFLICT DO NOTHING`, chain, store, till, seq, ref, kind, state, at, body, streamSeq)
}

// queueTills raises each till's at_hq to its newest stored sequence.
func queueTills(b *pgx.Batch, ts []tillSeq) {
	n := len(ts)
	chain, store, till, seq := make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, t := range ts {
		chain[i], store[i], till[i], seq[i] = t.till.Chain, t.till.Store, t.till.Till, int64(t.seq)
	}
	b.Queue(`INSERT INTO tills (chain, store, till, at_hq)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
		ON CONFLICT (chain, store, till) DO UPDATE SET at_hq = GREATEST(tills.at_hq, EXCLUDED.at_hq)`,
		chain, store, till, seq)
}

// newestSales is the newest "sale" event of each sale in evs (sorted).
func newestSales(evs []Event) []Event {
	type key struct {
		till wire.Till
		ref  string
	}
	newest := map[key]int{}
	var order []key
	for i, e := range evs {
		if e.Sale == nil {
			continue
		}
		k := key{e.Till, e.Sale.Reference}
		j, ok := newest[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || evs[j].Seq < e.Seq {
			newest[k] = i
		}
	}
	out := make([]Event, len(order))
	for i, k := range order {
		out[i] = evs[newest[k]]
	}
	slices.SortFunc(out, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Till.Store, b.Till.Store), cmp.Compare(a.Till.Till, b.Till.Till),
			cmp.Compare(a.Sale.Reference, b.Sale.Reference))
	})
	return out
}

// queueSales upserts the sales of evs (one event a sale), each unless
// headquarters has a newer event of it already. The rows are written, and
// locked, in the order of evs (sorted by till and reference), whatever
// plan the join gets: concurrent writers lock them in one order and never
// deadlock (a hash join's order made them, one second each).
func queueSales(b *pgx.Batch, evs []Event) {
	n := len(evs)
	str := func() []string { return make([]string, n) }
	num := func() []int64 { return make([]int64, n) }
	chain, store, till, ref, currency, desc, state, vipps, code := str(), str(), str(), str(), str(), str(), str(), str(), str()
	amount, authorized, captured, refunded, cancelled, last := num(), num(), num(), num(), num(), num()
	outcome, created, updated, finished := make([]bool, n), make([]time.Time, n), make([]time.Time, n), make([]*time.Time, n)
	for i, e := range evs {
		s := e.Sale
		chain[i], store[i], till[i], ref[i] = e.Till.Chain, e.Till.Store, e.Till.Till, s.Reference
		amount[i], currency[i], desc[i] = s.Amount, s.Currency, s.Description
		a := s.Aggregate
		authorized[i], captured[i], refunded[i], cancelled[i] = a.Authorized, a.Captured, a.Refunded, a.Cancelled
		state[i], outcome[i], vipps[i], code[i] = string(s.State), s.Outcome, s.VippsState, s.ErrorCode
		created[i], updated[i], last[i] = s.CreatedAt, s.UpdatedAt, int64(e.Seq)
		if !s.FinishedAt.IsZero() {
			finished[i] = &s.FinishedAt
		}
	}
	b.Queue(`INSERT INTO sales (chain, store, till, reference, msn, amount, currency, description,
			authorized, captured, refunded, cancelled, state, outcome, vipps_state, error_code,
			created_at, updated_at, finished_at, last_seq)
		SELECT u.chain, u.store, u.till, u.reference, COALESCE(t.msn, ''), u.amount, u.currency, u.description,
			u.authorized, u.captured, u.refunded, u.cancelled, u.state, u.outcome, u.vipps_state, u.error_code,
			u.created_at, u.updated_at, u.finished_at, u.last_seq
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
			$8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[], $13::boolean[], $14::text[], $15::text[],
			$16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::bigint[]) WITH ORDINALITY
			AS u(chain, store, till, reference, amount, currency, description, authorized, captured, refunded, cancelled,
				state, outcome, vipps_state, error_code, created_at, updated_at, finished_at, last_seq, n)
		LEFT JOIN tills t ON t.chain = u.chain AND t.store = u.store AND t.till = u.till
		ORDER BY u.n
		ON CONFLICT (chain, store, till, reference) DO UPDATE SET
			msn = CASE WHEN EXCLUDED.msn <> '' THEN EXCLUDED.msn ELSE sales.msn END,
			amount = EXCLUDED.amount, currency = EXCLUDED.currency, description = EXCLUDED.description,
			authorized = EXCLUDED.authorized, captured = EXCLUDED.captured, refunded = EXCLUDED.refunded,
			cancelled = EXCLUDED.cancelled, state = EXCLUDED.state, outcome = EXCLUDED.outcome,
			vipps_state = EXCLUDED.vipps_state, error_code = EXCLUDED.error_code,
			created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
			finished_at = EXCLUDED.finished_at, last_seq = EXCLUDED.last_seq
		WHERE sales.last_seq < EXCLUDED.last_seq`,
		chain, store, till, ref, amount, currency, desc, authorized, captured, refunded, cancelled,
		state, outcome, vipps, code, created, updated, finished, last)
}

type tillSeq struct {
	till wire.Till
	seq  uint64
}

// newestSeqs is the highest sequence of each till in evs, sorted by till.
func newestSeqs(evs []Event) []tillSeq {
	newest := map[wire.Till]uint64{}
	for _, e := range evs {
		newest[e.Till] = max(newest[e.Till], e.Seq)
	}
	out := make([]tillSeq, 0, len(newest))
	for t, seq := range newest {
		out = append(out, tillSeq{t, seq})
	}
	slices.SortFunc(out, func(a, b tillSeq) int {
		return cmp.Or(cmp.Compare(a.till.Store, b.till.Store), cmp.Compare(a.till.Till, b.till.Till))
	})
	return out
}

// sortedEvents is evs in the order of their rows' keys: the order in which
// the rare insert of each unless it is there locks them.
func sortedEvents(evs []Event) []Event {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Till.Store, b.Till.Store), cmp.Compare(a.Till.Till, b.Till.Till), cmp.Compare(a.Seq, b.Seq))
	})
	return evs
}
