package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// pruneBatch bounds the work of one prune transaction, so that a first
// prune of a large backlog neither holds the write lock for long nor builds
// a huge transaction.
const pruneBatch = 1000

// Pruned counts what one [DB.Prune] removed.
type Pruned struct {
	Sales  int
	Events int
}

// Prune bounds the file's growth. It removes
//
//   - final sales whose FinishedAt is more than Options.Retention before now,
//     unless commands of theirs are still queued (the agent's work is never
//     dropped by age);
//   - events whose At is more than Options.EventRetention before now, oldest
//     first, whatever their sale: an event is a snapshot and does not need
//     its sale. The event log only ever loses its oldest end, so the POS
//     stream stays gapless after FirstSeq; a POS that comes back after more
//     than EventRetention finds its position below FirstSeq and must be told.
//     With Options.HoldUnshipped, events headquarters has not acknowledged
//     (after the shipped mark, shipped.go) are kept whatever their age.
//
// Unfinished sales and queued commands are never pruned. Prune works in
// batches of durable transactions and reads only what it removes, through
// the index of finished sales by FinishedAt. Freed pages are reused by later
// writes; Open compacts the file when they come to dominate it.
func (db *DB) Prune(now time.Time) (Pruned, error) {
	var p Pruned
	saleCutoff := timeKey(now.Add(-db.opts.Retention))
	var after []byte // the last index key examined and kept
	for {
		var more bool
		err := db.Update(func(tx *Tx) error {
			var n int
			var err error
			n, after, more, err = tx.pruneSales(saleCutoff, after)
			p.Sales += n
			return err
		})
		if err != nil {
			return p, fmt.Errorf("store: prune sales: %w", err)
		}
		if !more {
			break
		}
	}
	eventCutoff := now.Add(-db.opts.EventRetention)
	for {
		var more bool
		err := db.Update(func(tx *Tx) error {
			var n int
			var err error
			n, more, err = tx.pruneEvents(eventCutoff, db.unshippedFloor(tx))
			p.Events += n
			return err
		})
		if err != nil {
			return p, fmt.Errorf("store: prune events: %w", err)
		}
		if !more {
			break
		}
	}
	if p.Sales > 0 || p.Events > 0 {
		db.log.Info("database pruned", "sales", p.Sales, "events", p.Events)
	}
	return p, nil
}

// pruneSales removes up to pruneBatch final sales finished before cutoff,
// examining index keys after the key after. It returns the last key it
// examined and whether there may be more.
func (tx *Tx) pruneSales(cutoff uint64, after []byte) (n int, last []byte, more bool, err error) {
	done, err := tx.bucket(bucketDone)
	if err != nil {
		return 0, nil, false, err
	}
	var keys [][]byte
	c := done.Cursor()
	k, _ := c.Seek(after)
	if k != nil && after != nil && bytes.Equal(k, after) {
		k, _ = c.Next()
	}
	for ; k != nil && len(keys) < pruneBatch; k, _ = c.Next() {
		if len(k) < 8 || keyU64(k[:8]) >= cutoff {
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	more = len(keys) == pruneBatch
	for _, k := range keys {
		last = k
		ref := string(k[8:])
		ids, err := tx.commandIDsFor(ref)
		if err != nil {
			return n, last, false, err
		}
		if len(ids) > 0 {
			continue
		}
		if err := tx.deleteSale(ref, k); err != nil {
			return n, last, false, err
		}
		n++
	}
	return n, last, more, nil
}

// pruneEvents removes up to pruneBatch of the oldest events if they are
// older than cutoff and their seq is at most keepAfter (shipped.go), and
// reports whether there may be more.
func (tx *Tx) pruneEvents(cutoff time.Time, keepAfter uint64) (n int, more bool, err error) {
	events, err := tx.bucket(bucketEvents)
	if err != nil {
		return 0, false, err
	}
	var keys [][]byte
	c := events.Cursor()
	for k, v := c.First(); k != nil && len(keys) < pruneBatch && keyU64(k) <= keepAfter; k, v = c.Next() {
		var e struct {
			At time.Time `json:"at"`
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return 0, false, tx.corrupt(fmt.Sprintf("event %d", keyU64(k)), err)
		}
		if !e.At.Before(cutoff) {
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := events.Delete(k); err != nil {
			return n, false, err
		}
		n++
	}
	if n > 0 {
		if err := tx.addCount(keyNEvents, -int64(n)); err != nil {
			return n, false, err
		}
	}
	return n, len(keys) == pruneBatch, nil
}
