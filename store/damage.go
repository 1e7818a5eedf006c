package store

import (
	"bytes"
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

// checkChunk is how many records the record check reads in one read
// transaction. bbolt's read transaction holds the lock a commit takes to
// grow the file's mapping: a check in one transaction would hold every
// commit that grows the file (the journal's flusher, and with it every
// durable write) until it ends, seconds on a large store.
const checkChunk = 1024

// checkAttempts bounds the walks the record check makes when writes went
// on during one and it found counts or index sizes that disagree (which
// the writes may explain).
const checkAttempts = 3

// checkRecords checks the store's invariants on bbolt's committed state,
// in short read transactions (chunkReader), and notes what is wrong. Close
// stops it.
func (db *DB) checkRecords() {
	defer close(db.checkDone)
	defer db.releaseMapping() // it read every record
	var found []finding
	for attempt := 1; ; attempt++ {
		r := &chunkReader{db: db}
		all := checkInvariants(r)
		if r.err != nil {
			if !errors.Is(r.err, errCheckStopped) {
				db.log.Error("record check failed", "err", r.err)
			}
			return
		}
		if !r.changed {
			found = all // one state throughout: as one transaction would see it
			break
		}
		// Writes went on between chunks: a record named is damaged (it was
		// read in one transaction); an index entry is confirmed against
		// its record in one fresh transaction; a count is not to be
		// trusted, and a later walk checks it again.
		found = found[:0]
		whole := false
		err := db.bolt.View(func(btx *bolt.Tx) error {
			for _, f := range all {
				switch f.kind {
				case findSure:
					found = append(found, f)
				case findEntry:
					if entryHolds(btx, f.bucket, f.key) {
						found = append(found, f)
					}
				case findWhole:
					whole = true
				}
			}
			return nil
		})
		if err != nil {
			db.log.Error("record check failed", "err", err)
			return
		}
		if !whole || len(found) > 0 || attempt == checkAttempts {
			if whole && len(found) == 0 {
				db.log.Info("record check: counts not checked (writes went on throughout); every record checked")
			}
			break
		}
	}
	if len(found) == 0 {
		db.log.Info("records checked")
		return
	}
	p := summarizeFindings(found, 20)
	ce := &CorruptError{Path: db.path, Reason: strings.Join(p.texts, "; "), Record: p.record, Seq: p.seq}
	db.noteDamage(ce)
	db.log.Error("database damaged: records do not check", "problems", ce.Reason,
		"fix", "run `tillbox doctor` with tillbox stopped; to restore the newest backup: "+RestoreSteps(db.path))
}

// chunkReader reads bbolt's committed state in short read transactions,
// each of at most checkChunk records, a walk resuming after the last key
// read. changed says whether it saw more than one state; err is the first
// error (errCheckStopped once the DB closes), after which it reads nothing.
type chunkReader struct {
	db      *DB
	txid    uint64
	changed bool
	err     error
}

// view runs fn in a read transaction, unless the reader has failed or the
// DB is closing.
func (r *chunkReader) view(fn func(btx *bolt.Tx) error) {
	if r.err == nil && r.db.checkStop.Load() {
		r.err = errCheckStopped
	}
	if r.err != nil {
		return
	}
	r.err = r.db.bolt.View(func(btx *bolt.Tx) error {
		switch id := uint64(btx.ID()); {
		case r.txid == 0:
			r.txid = id
		case id != r.txid:
			r.changed = true
		}
		return fn(btx)
	})
}

func (r *chunkReader) hasBucket(name string) (ok bool) {
	r.view(func(btx *bolt.Tx) error { ok = btx.Bucket([]byte(name)) != nil; return nil })
	return ok
}

func (r *chunkReader) get(bucket, key string) (v []byte) {
	r.view(func(btx *bolt.Tx) error {
		if b := btx.Bucket([]byte(bucket)); b != nil {
			v = bytes.Clone(b.Get([]byte(key)))
		}
		return nil
	})
	return v
}

func (r *chunkReader) sequence(bucket string) (n uint64) {
	r.view(func(btx *bolt.Tx) error {
		if b := btx.Bucket([]byte(bucket)); b != nil {
			n = b.Sequence()
		}
		return nil
	})
	return n
}

func (r *chunkReader) schemaVersion() (v uint64) {
	r.view(func(btx *bolt.Tx) error { v, _ = schemaVersion(btx); return nil })
	return v
}

func (r *chunkReader) topLevel() (names []string) {
	r.view(func(btx *bolt.Tx) error {
		return btx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
	})
	return names
}

func (r *chunkReader) forEach(bucket string, fn func(k, v []byte) error) error {
	var last []byte // the last key read; nil before the first chunk
	for {
		if r.db.opts.checkChunkHook != nil && last != nil {
			r.db.opts.checkChunkHook()
		}
		more := false
		r.view(func(btx *bolt.Tx) error {
			b := btx.Bucket([]byte(bucket))
			if b == nil {
				return nil
			}
			defer func() { _ = releasePages(btx.DB().Info().Data, btx.Size()) }()
			c := b.Cursor()
			var k, v []byte
			if last == nil {
				k, v = c.First()
			} else if k, v = c.Seek(last); k != nil && bytes.Equal(k, last) {
				k, v = c.Next()
			}
			for n := 0; k != nil; k, v = c.Next() {
				if n == checkChunk {
					more = true
					return nil
				}
				if err := fn(k, v); err != nil {
					return err
				}
				last = append(last[:0], k...)
				n++
			}
			return nil
		})
		if r.err != nil {
			return r.err
		}
		if !more {
			return nil
		}
	}
}
