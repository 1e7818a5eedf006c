package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The shipped mark: the newest event seq headquarters acknowledged
// (agent/fleet ships the event log). It lives in the meta bucket, written
// like every other record (journaled when the transaction is), so it
// survives a crash; a missing key is 0, nothing shipped.
//
// The mark may lag what headquarters holds (the link writes it in
// batches, after the acknowledgements), never lead it: with
// [Options.HoldUnshipped], [DB.Prune] keeps every event after it.

const keyShipped = "shipped"

// Shipped returns the shipped mark: the newest event headquarters
// acknowledged, 0 when none.
func (tx *Tx) Shipped() uint64 {
	meta := tx.btx.Bucket([]byte(bucketMeta))
	if meta == nil {
		return 0
	}
	if v := meta.Get([]byte(keyShipped)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// SetShipped sets the shipped mark to seq. It may go down: when
// headquarters turns out to hold less than the mark said (its stream was
// reset), the mark follows what it holds, so that Prune keeps what it
// lacks. seq may not pass LastSeq.
func (tx *Tx) SetShipped(seq uint64) error {
	if last := tx.LastSeq(); seq > last {
		return fmt.Errorf("store: set shipped %d: the newest event is %d: %w", seq, last, ErrInvalid)
	}
	meta, err := tx.bucket(bucketMeta)
	if err != nil {
		return err
	}
	if v := meta.Get([]byte(keyShipped)); bytes.Equal(v, u64Key(seq)) {
		return nil // unchanged: nothing to write
	}
	return meta.Put([]byte(keyShipped), u64Key(seq))
}

// RawEvent is one event of the log exactly as the store keeps it: the
// JSON of an [Event].
type RawEvent struct {
	Seq  uint64
	JSON []byte
}

// RawEventsAfter returns up to limit events (all when limit <= 0) with Seq
// greater than seq, in order, each as the store keeps it (copies). Unlike
// [Tx.EventsAfter] it does not decode them: what is shipped is what was
// stored.
func (tx *Tx) RawEventsAfter(seq uint64, limit int) ([]RawEvent, error) {
	events, err := tx.bucket(bucketEvents)
	if err != nil {
		return nil, err
	}
	var out []RawEvent
	c := events.Cursor()
	for k, v := c.Seek(u64Key(seq + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
		out = append(out, RawEvent{Seq: keyU64(k), JSON: bytes.Clone(v)})
	}
	return out, nil
}

// unshippedFloor is the seq above which Prune must keep every event: the
// shipped mark when [Options.HoldUnshipped], else none (max uint64).
func (db *DB) unshippedFloor(tx *Tx) uint64 {
	if !db.opts.HoldUnshipped {
		return ^uint64(0)
	}
	return tx.Shipped()
}
