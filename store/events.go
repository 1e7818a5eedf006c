package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is one entry of the log the POS reads: a result or state change it
// must see exactly once. Seq numbers are assigned by AppendEvent in commit
// order, start at 1, and have no gaps; they survive restarts and compaction.
// An event is a snapshot: it stays meaningful after its sale is pruned.
type Event struct {
	Seq       uint64          `json:"seq"`
	Reference string          `json:"reference,omitempty"`
	Kind      string          `json:"kind"`
	State     string          `json:"state,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	At        time.Time       `json:"at"`
}

// AppendEvent adds e to the log, sets e.Seq and returns it. A transaction
// that fails takes its sequence numbers with it, so the log has no gaps.
func (tx *Tx) AppendEvent(e *Event) (uint64, error) {
	if e.Kind == "" || e.At.IsZero() {
		return 0, fmt.Errorf("store: append event: Kind and At are required: %w", ErrInvalid)
	}
	events, err := tx.bucket(bucketEvents)
	if err != nil {
		return 0, err
	}
	seq, err := events.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("store: append event: %w", err)
	}
	e.Seq = seq
	val, err := json.Marshal(e)
	if err != nil {
		e.Seq = 0
		return 0, fmt.Errorf("store: append event: %w", err)
	}
	if err := events.Put(u64Key(seq), val); err != nil {
		e.Seq = 0
		return 0, fmt.Errorf("store: append event: %w", err)
	}
	if err := tx.addCount(keyNEvents, 1); err != nil {
		return 0, err
	}
	return seq, nil
}

// EventsAfter returns up to limit events (all when limit <= 0) with Seq
// greater than seq, in order. The events before a damaged one come back
// first; a damaged first one is a [*CorruptError] whose Seq names it. If seq+1 < FirstSeq, the events between were
// pruned; the caller should tell its client rather than skip silently.
func (tx *Tx) EventsAfter(seq uint64, limit int) ([]Event, error) {
	events, err := tx.bucket(bucketEvents)
	if err != nil {
		return nil, err
	}
	var out []Event
	c := events.Cursor()
	for k, v := c.Seek(u64Key(seq + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			if len(out) > 0 {
				return out, nil // those before it; the next call starts at it
			}
			return nil, &CorruptError{Path: tx.path, Reason: fmt.Sprintf("event %d does not decode", keyU64(k)), Err: err,
				Record: fmt.Sprintf("event %d", keyU64(k)), Seq: keyU64(k)}
		}
		out = append(out, e)
	}
	return out, nil
}

// LastSeq returns the Seq of the newest event ever appended (0 if none),
// including one already pruned.
func (tx *Tx) LastSeq() uint64 {
	if b := tx.btx.Bucket([]byte(bucketEvents)); b != nil {
		return b.Sequence()
	}
	return 0
}

// FirstSeq returns the Seq of the oldest event still kept, or LastSeq()+1
// when none is.
func (tx *Tx) FirstSeq() uint64 {
	b := tx.btx.Bucket([]byte(bucketEvents))
	if b == nil {
		return 1
	}
	if k, _ := b.Cursor().First(); k != nil {
		return keyU64(k)
	}
	return b.Sequence() + 1
}
