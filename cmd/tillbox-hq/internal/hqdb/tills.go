package hqdb

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Heard is a box's heartbeat and when it reached the NATS servers (their
// clock, not the box's).
type Heard struct {
	Heartbeat wire.Heartbeat
	At        time.Time
}

// ParseHeartbeat reads a heartbeat message's data.
func ParseHeartbeat(data []byte) (wire.Heartbeat, error) {
	var h wire.Heartbeat
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("heartbeat: %w", err)
	}
	return h, nil
}

// Heartbeats records the boxes' heartbeats. One older than the one stored
// (a redelivery) changes nothing.
func (db *DB) Heartbeats(ctx context.Context, hs []Heard) error {
	if len(hs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, hd := range hs {
		h := hd.Heartbeat
		body, err := json.Marshal(h)
		if err != nil {
			return err
		}
		t := h.Till
		b.Queue(`INSERT INTO tills (chain, store, till, msn, reference_prefix, version, heartbeat, heartbeat_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (chain, store, till) DO UPDATE SET
				msn = EXCLUDED.msn, reference_prefix = EXCLUDED.reference_prefix, version = EXCLUDED.version,
				heartbeat = EXCLUDED.heartbeat, heartbeat_at = EXCLUDED.heartbeat_at
			WHERE tills.heartbeat_at IS NULL OR tills.heartbeat_at <= EXCLUDED.heartbeat_at`,
			t.Chain, t.Store, t.Till, h.MSN, h.ReferencePrefix, h.Version, string(body), hd.At)
	}
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("heartbeats: %w", err)
	}
	return nil
}

// Route is how webhooks find a till: references of sales unit MSN that
// start with Prefix + "-" are the till's.
type Route struct {
	Till   wire.Till
	MSN    string
	Prefix string
}

// Routes lists the routes of chain's tills that told their MSN and
// reference prefix in a heartbeat.
func (db *DB) Routes(ctx context.Context, chain string) ([]Route, error) {
	rows, err := db.pool.Query(ctx, `SELECT store, till, msn, reference_prefix FROM tills
		WHERE chain = $1 AND msn <> '' AND reference_prefix <> '' ORDER BY store, till`, chain)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	defer rows.Close()
	var out []Route
	for rows.Next() {
		r := Route{Till: wire.Till{Chain: chain}}
		if err := rows.Scan(&r.Till.Store, &r.Till.Till, &r.MSN, &r.Prefix); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// TillState is one till as headquarters knows it, for /metrics and the
// fleet page.
type TillState struct {
	Till wire.Till
	// HeardAt is when its last heartbeat reached the NATS servers; zero
	// when none came yet.
	HeardAt   time.Time
	Heartbeat wire.Heartbeat // zero without one
	AtHQ      uint64         // the newest event stored
}

// TillStates lists chain's tills, ordered by store and till.
func (db *DB) TillStates(ctx context.Context, chain string) ([]TillState, error) {
	rows, err := db.pool.Query(ctx, `SELECT store, till, heartbeat, heartbeat_at, at_hq FROM tills
		WHERE chain = $1 ORDER BY store, till`, chain)
	if err != nil {
		return nil, fmt.Errorf("tills: %w", err)
	}
	defer rows.Close()
	var out []TillState
	for rows.Next() {
		s := TillState{Till: wire.Till{Chain: chain}}
		var hb []byte
		var heard *time.Time
		var atHQ int64
		if err := rows.Scan(&s.Till.Store, &s.Till.Till, &hb, &heard, &atHQ); err != nil {
			return nil, err
		}
		if heard != nil {
			s.HeardAt = *heard
		}
		if hb != nil {
			if err := json.Unmarshal(hb, &s.Heartbeat); err != nil {
				return nil, fmt.Errorf("tills: heartbeat of %s: %w", s.Till, err)
			}
		}
		s.AtHQ = uint64(atHQ)
		out = append(out, s)
	}
	return out, rows.Err()
}

// Lag is how many events of the till are not at headquarters: the box's
// newest (from its last heartbeat) less the newest stored; 0 when
// headquarters is ahead of the last heartbeat.
func (s TillState) Lag() uint64 {
	if s.Heartbeat.LastSeq > s.AtHQ {
		return s.Heartbeat.LastSeq - s.AtHQ
	}
	return 0
}
