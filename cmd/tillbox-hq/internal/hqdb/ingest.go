package hqdb

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

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
	// Sale is the sale's snapshot of a "sale" event; nil for other kinds.
	Sale *agent.Sale
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

// ParseEvent reads the body of a journal message of till t.
func ParseEvent(t wire.Till, body []byte, streamSeq uint64) (Event, error) {
	var e boxEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, fmt.Errorf("event of %s: not the JSON of an event: %w", t, err)
	}
	if e.Seq == 0 || e.Kind == "" || e.At.IsZero() {
		return Event{}, fmt.Errorf("event of %s: seq, kind and at are required", t)
	}
	ev := Event{Till: t, Seq: e.Seq, Reference: e.Reference, Kind: e.Kind, State: e.State, At: e.At,
		Body: body, StreamSeq: streamSeq}
	if e.Kind == "sale" {
		var s agent.Sale
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return Event{}, fmt.Errorf("event %d of %s: the sale does not decode: %w", e.Seq, t, err)
		}
		if s.Reference == "" {
			s.Reference = e.Reference
		}
		ev.Sale = &s
	}
	return ev, nil
}

// Ingested is what one batch changed.
type Ingested struct {
	New, Duplicates int // events stored, events already there
}

// Ingest writes a batch of events in one transaction: each event once
// (a repeated one changes nothing), each sale from its newest event, and
// each till's newest stored sequence. Either all of it is committed or
// nothing; the caller acknowledges the messages only after it returns nil.
func (db *DB) Ingest(ctx context.Context, evs []Event) (Ingested, error) {
	var res Ingested
	if len(evs) == 0 {
		return res, nil
	}
	// One order for the rows every writer locks: two headquarters writing
	// the same tills do not deadlock.
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Till.Store, b.Till.Store), cmp.Compare(a.Till.Till, b.Till.Till), cmp.Compare(a.Seq, b.Seq))
	})
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		res = Ingested{}
		b := &pgx.Batch{}
		for _, e := range evs {
			b.Queue(`INSERT INTO events (chain, store, till, seq, reference, kind, state, at, body, stream_seq)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
				e.Till.Chain, e.Till.Store, e.Till.Till, int64(e.Seq), e.Reference, e.Kind, e.State, e.At,
				string(e.Body), int64(e.StreamSeq)).Exec(func(ct pgconn.CommandTag) error {
				if ct.RowsAffected() == 1 {
					res.New++
				} else {
					res.Duplicates++
				}
				return nil
			})
		}
		for _, e := range newestSales(evs) {
			queueSale(b, e)
		}
		for _, t := range newestSeqs(evs) {
			b.Queue(`INSERT INTO tills (chain, store, till, at_hq) VALUES ($1, $2, $3, $4)
				ON CONFLICT (chain, store, till) DO UPDATE SET at_hq = GREATEST(tills.at_hq, EXCLUDED.at_hq)`,
				t.till.Chain, t.till.Store, t.till.Till, int64(t.seq))
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return Ingested{}, fmt.Errorf("ingest: %w", err)
	}
	return res, nil
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

// queueSale upserts the sale of e, unless headquarters has a newer event
// of it already.
func queueSale(b *pgx.Batch, e Event) {
	s := e.Sale
	var finished *time.Time
	if !s.FinishedAt.IsZero() {
		finished = &s.FinishedAt
	}
	b.Queue(`INSERT INTO sales (chain, store, till, reference, msn, amount, currency, description,
			authorized, captured, refunded, cancelled, state, outcome, vipps_state, error_code,
			created_at, updated_at, finished_at, last_seq)
		VALUES ($1, $2, $3, $4,
			COALESCE((SELECT msn FROM tills t WHERE t.chain = $1 AND t.store = $2 AND t.till = $3), ''),
			$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		ON CONFLICT (chain, store, till, reference) DO UPDATE SET
			msn = CASE WHEN EXCLUDED.msn <> '' THEN EXCLUDED.msn ELSE sales.msn END,
			amount = EXCLUDED.amount, currency = EXCLUDED.currency, description = EXCLUDED.description,
			authorized = EXCLUDED.authorized, captured = EXCLUDED.captured, refunded = EXCLUDED.refunded,
			cancelled = EXCLUDED.cancelled, state = EXCLUDED.state, outcome = EXCLUDED.outcome,
			vipps_state = EXCLUDED.vipps_state, error_code = EXCLUDED.error_code,
			created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
			finished_at = EXCLUDED.finished_at, last_seq = EXCLUDED.last_seq
		WHERE sales.last_seq < EXCLUDED.last_seq`,
		e.Till.Chain, e.Till.Store, e.Till.Till, s.Reference,
		s.Amount, s.Currency, s.Description,
		s.Aggregate.Authorized, s.Aggregate.Captured, s.Aggregate.Refunded, s.Aggregate.Cancelled,
		string(s.State), s.Outcome, s.VippsState, s.ErrorCode,
		s.CreatedAt, s.UpdatedAt, finished, int64(e.Seq))
}

type tillSeq struct {
	till wire.Till
	seq  uint64
}

// newestSeqs is the highest sequence of each till in evs (sorted).
func newestSeqs(evs []Event) []tillSeq {
	var out []tillSeq
	for _, e := range evs {
		if n := len(out); n > 0 && out[n-1].till == e.Till {
			out[n-1].seq = max(out[n-1].seq, e.Seq)
			continue
		}
		out = append(out, tillSeq{e.Till, e.Seq})
	}
	return out
}
