package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// errRollback ends Verify's transaction without committing.
var errRollback = errors.New("rollback")

// Verify checks the whole file and returns a [*CorruptError] listing what is
// wrong: every page (bbolt's own check: reachability, no page used twice or
// both used and free, key order) and the store's invariants (every record
// decodes and sits under its own key, the indexes and counts agree with the
// records, event sequence numbers have no gaps).
//
// Verify reads the whole file and holds the write lock while it runs
// (bbolt's check is not safe beside a concurrent writer otherwise): it is
// for tests, doctor and the technician page, not for the hot path.
func (db *DB) Verify() error {
	var problems []string
	var found invariantProblems
	defer db.releaseMapping() // it read every page
	err := db.bolt.Update(func(btx *bolt.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				problems = append(problems, fmt.Sprintf("reading the file panicked: %v", r))
				err = errRollback
			}
		}()
		defer setPanicOnFault()()
		// Touch every page here first, where a fault becomes a panic we
		// recover, not in bbolt's checker goroutine, where it would crash.
		_ = btx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			touch(b)
			return nil
		})
		for err := range btx.Check() {
			if len(problems) < 20 {
				problems = append(problems, err.Error())
			}
		}
		if len(problems) == 0 {
			found = checkInvariants(&Tx{btx: btx, path: db.path}, 20, nil)
			problems = found.texts
		}
		return errRollback
	})
	switch {
	case errors.Is(err, errRollback) && len(problems) == 0:
		return nil
	case errors.Is(err, errRollback):
		ce := &CorruptError{Path: db.path, Reason: strings.Join(problems, "; "), Record: found.record, Seq: found.seq}
		db.noteDamage(ce)
		return ce
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("store: verify: %w", ErrClosed)
	case err != nil:
		return fmt.Errorf("store: verify: %w", err)
	}
	return nil
}

// touch reads every key and value of b and its nested buckets, and so
// every page bbolt's check will read.
func touch(b *bolt.Bucket) {
	var sum uint32
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		sum ^= crc32.ChecksumIEEE(k)
		if v != nil {
			sum ^= crc32.ChecksumIEEE(v)
		} else if nb := b.Bucket(k); nb != nil {
			touch(nb)
		}
	}
	_ = sum // the reads are the point
}

// invariantProblems are what checkInvariants found: up to its max texts,
// and the first record named (with its event sequence number).
type invariantProblems struct {
	texts  []string
	record string
	seq    uint64
}

// checkInvariants returns up to max violations of the store's invariants.
// It stops early, with what it found so far, once stop (if not nil) is set.
func checkInvariants(tx *Tx, max int, stop *atomic.Bool) (found invariantProblems) {
	var problems []string
	defer func() { found.texts = problems }()
	bad := func(format string, args ...any) {
		if len(problems) < max {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	// record notes the first record named by a problem.
	record := func(name string, seq uint64) {
		if found.record == "" {
			found.record, found.seq = name, seq
		}
	}
	// halt ends a walk once stop is set. In the background (stop set), it
	// also releases the mapped pages every walkRelease records, so that
	// the check does not leave the whole file in the RSS.
	stopped := errors.New("stopped")
	walked := 0
	halt := func() error {
		if stop == nil {
			return nil
		}
		if walked++; walked%walkRelease == 0 {
			tx.release()
		}
		if stop.Load() {
			return stopped
		}
		return nil
	}
	buckets := map[string]*bolt.Bucket{}
	for _, name := range schemaBuckets() {
		b := tx.btx.Bucket([]byte(name))
		if b == nil {
			bad("bucket %q is missing", name)
			return found
		}
		buckets[name] = b
	}
	meta := buckets[bucketMeta]
	if v, _ := schemaVersion(tx.btx); v != uint64(len(schema())) {
		bad("schema version %d, want %d", v, len(schema()))
	}
	count := func(key string, n int) {
		if got := meta.Get([]byte(key)); len(got) != 8 || binary.BigEndian.Uint64(got) != uint64(n) {
			bad("meta %s is %x, but there are %d", key, got, n)
		}
	}

	// Sales and their two indexes.
	open, done := map[string][]byte{}, map[string][]byte{}
	nSales := 0
	_ = buckets[bucketSales].ForEach(func(k, v []byte) error {
		nSales++
		var s Sale
		if err := json.Unmarshal(v, &s); err != nil {
			bad("sale %q does not decode: %v (what to do: restore the newest backup)", k, err)
			record(fmt.Sprintf("sale %q", k), 0)
			return halt()
		}
		if s.Reference != string(k) {
			bad("sale under %q has reference %q", k, s.Reference)
		}
		if s.Final {
			done[string(timeRefKey(s.FinishedAt, s.Reference))] = []byte{}
		} else {
			open[s.Reference] = openValue(&s)
		}
		return halt()
	})
	count(keyNSales, nSales)
	count(keyNOpen, len(open))
	// sameSet checks that an index holds exactly the keys of want, each
	// with its value.
	sameSet := func(bucket string, want map[string][]byte) {
		n := 0
		_ = buckets[bucket].ForEach(func(k, v []byte) error {
			n++
			w, ok := want[string(k)]
			switch {
			case !ok:
				bad("%s holds %q, which matches no record", bucket, k)
				record(fmt.Sprintf("%s entry %q", bucket, k), 0)
			case !bytes.Equal(v, w):
				bad("%s entry %q is %x, want %x", bucket, k, v, w)
				record(fmt.Sprintf("%s entry %q", bucket, k), 0)
			}
			return halt()
		})
		if n != len(want) {
			bad("%s holds %d keys, want %d", bucket, n, len(want))
		}
	}
	sameSet(bucketOpen, open)
	sameSet(bucketDone, done)

	// The outbox and its two indexes.
	outbox := buckets[bucketOutbox]
	byRef, due := map[string][]byte{}, map[string][]byte{}
	nCommands := 0
	_ = outbox.ForEach(func(k, v []byte) error {
		nCommands++
		var c Command
		if err := json.Unmarshal(v, &c); err != nil {
			bad("command %d (key %x) does not decode: %v", keyU64(k), k, err)
			record(fmt.Sprintf("command %d", keyU64(k)), 0)
			return halt()
		}
		if len(k) != 8 || keyU64(k) != c.ID || c.ID == 0 || c.ID > outbox.Sequence() {
			bad("command under %x has id %d (sequence %d)", k, c.ID, outbox.Sequence())
		}
		byRef[string(refIDKey(c.Reference, c.ID))] = []byte{}
		due[string(timeIDKey(c.NextAttempt, c.ID))] = dueValue(&c)
		return halt()
	})
	count(keyNCommands, nCommands)
	sameSet(bucketOutRef, byRef)
	sameSet(bucketOutDue, due)

	// Events: consecutive sequence numbers ending at the bucket's sequence.
	events := buckets[bucketEvents]
	nEvents, prev := 0, uint64(0)
	_ = events.ForEach(func(k, v []byte) error {
		nEvents++
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			bad("event %d (key %x) does not decode: %v", keyU64(k), k, err)
			record(fmt.Sprintf("event %d", keyU64(k)), keyU64(k))
			prev = keyU64(k)
			return halt()
		}
		if len(k) != 8 || keyU64(k) != e.Seq {
			bad("event under %x has seq %d", k, e.Seq)
		}
		if prev != 0 && e.Seq != prev+1 {
			bad("event seq %d follows %d: a gap", e.Seq, prev)
		}
		prev = e.Seq
		return halt()
	})
	if prev != 0 && prev != events.Sequence() {
		bad("last event has seq %d, but the sequence is at %d", prev, events.Sequence())
	}
	count(keyNEvents, nEvents)

	// Counters are 8-byte integers.
	_ = buckets[bucketCounters].ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			bad("counter %q is %x", k, v)
		}
		return nil
	})
	// No foreign top-level buckets.
	_ = tx.btx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if buckets[string(name)] == nil {
			bad("unknown bucket %q", name)
		}
		return nil
	})
	return found
}
