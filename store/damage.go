package store

import (
	"errors"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// A damaged record (one that does not decode, an index entry without its
// record) is met by whoever reads it: the POS reading events, the outbox
// taking its next command. The DB remembers the first one met, and the
// record check Options.CheckRecords starts at Open looks for them before
// anyone trips on one, so that /readyz and doctor can name it instead of a
// POS retrying a 500 for ever.

// Damage returns the first damaged record met since Open, by the record
// check or by a transaction that read it, as a [*CorruptError] naming the
// record; nil when none is known.
func (db *DB) Damage() error {
	if e := db.damage.Load(); e != nil {
		return e
	}
	return nil
}

// Checked is closed once the record check started by Open
// (Options.CheckRecords) is done, at once without it.
func (db *DB) Checked() <-chan struct{} { return db.checkDone }

// noteDamage remembers err when it reports a damaged database.
func (db *DB) noteDamage(err error) {
	var ce *CorruptError
	if errors.As(err, &ce) {
		db.damage.CompareAndSwap(nil, ce)
	}
}

// errCheckStopped ends the record check when the DB closes.
var errCheckStopped = errors.New("record check stopped")

// checkRecords checks the store's invariants on bbolt's committed state
// in a read transaction, and notes what is wrong. Close stops it.
func (db *DB) checkRecords() {
	defer close(db.checkDone)
	defer db.releaseMapping() // it read every record
	var problems []string
	var record string
	var seq uint64
	err := db.bolt.View(func(btx *bolt.Tx) error {
		found := checkInvariants(&Tx{btx: btx, path: db.path}, 20, &db.checkStop)
		problems, record, seq = found.texts, found.record, found.seq
		if db.checkStop.Load() {
			return errCheckStopped
		}
		return nil
	})
	switch {
	case errors.Is(err, errCheckStopped):
		return
	case err != nil:
		db.log.Error("record check failed", "err", err)
		return
	case len(problems) > 0:
		ce := &CorruptError{Path: db.path, Reason: strings.Join(problems, "; "), Record: record, Seq: seq}
		db.noteDamage(ce)
		db.log.Error("database damaged: records do not check", "problems", ce.Reason,
			"fix", "run `tillbox doctor` with tillbox stopped; to restore the newest backup: "+RestoreSteps(db.path))
	default:
		db.log.Info("records checked")
	}
}
