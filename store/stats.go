package store

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Stats describe the database for the caps on the queue, /metrics and the
// technician page. Computing them costs a few page reads, whatever the size.
type Stats struct {
	SchemaVersion uint64
	Sales         int // every sale kept, finished or not
	Unfinished    int // sales not Final
	Commands      int // commands queued in the outbox
	Events        int // events kept
	// OldestCommand is when the oldest queued command was enqueued; zero
	// when the outbox is empty.
	OldestCommand time.Time
	FirstSeq      uint64 // oldest event kept (LastSeq+1 when none)
	LastSeq       uint64 // newest event ever appended
	FileSize      int64  // bytes on disk
	FreeBytes     int64  // free pages inside the file: reused before it grows, returned by compaction
}

// Stats returns the current figures.
func (db *DB) Stats() (Stats, error) {
	var st Stats
	err := db.View(func(tx *Tx) error {
		var err error
		if st.SchemaVersion, err = schemaVersion(tx.btx); err != nil {
			return err
		}
		st.Sales = tx.count(keyNSales)
		st.Unfinished = tx.count(keyNOpen)
		st.Commands = tx.count(keyNCommands)
		st.Events = tx.count(keyNEvents)
		st.FirstSeq, st.LastSeq = tx.FirstSeq(), tx.LastSeq()
		outbox, err := tx.bucket(bucketOutbox)
		if err != nil {
			return err
		}
		if k, v := outbox.Cursor().First(); k != nil {
			var c struct {
				CreatedAt time.Time `json:"createdAt"`
			}
			if err := json.Unmarshal(v, &c); err != nil {
				return tx.corrupt(fmt.Sprintf("command %d", keyU64(k)), err)
			}
			st.OldestCommand = c.CreatedAt
		}
		return nil
	})
	if err != nil {
		return Stats{}, err
	}
	bs := db.bolt.Stats()
	st.FreeBytes = int64(bs.FreePageN+bs.PendingPageN) * int64(db.pageSize)
	if fi, err := os.Stat(db.path); err == nil {
		st.FileSize = fi.Size()
	}
	return st, nil
}
