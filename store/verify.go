package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

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
			found = summarizeFindings(checkInvariants(&txReader{tx: &Tx{btx: btx, path: db.path}}), 20)
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

// findingKind says how far a finding read in short transactions (the
// background check) can be trusted when the state changed between them.
type findingKind int

const (
	// findSure: read within one transaction (a record that does not
	// decode, a missing bucket): true whatever changed since.
	findSure findingKind = iota
	// findEntry: an index entry that does not match its record, as the
	// walk saw them, perhaps in different transactions: confirmed by
	// reading both again in one transaction.
	findEntry
	// findWhole: a count, an index's size, the event sequence: true only
	// of a walk that saw one state.
	findWhole
)

// finding is one violation checkInvariants met.
type finding struct {
	kind   findingKind
	text   string
	record string // the record it names, if any
	seq    uint64 // the event's sequence number, when record is an event
	bucket string // findEntry: the index and its key
	key    []byte
}

// summarizeFindings is the first max texts of found and the first record
// named.
func summarizeFindings(found []finding, max int) invariantProblems {
	var p invariantProblems
	for _, f := range found {
		if len(p.texts) < max {
			p.texts = append(p.texts, f.text)
		}
		if p.record == "" && f.record != "" {
			p.record, p.seq = f.record, f.seq
		}
	}
	return p
}

// invReader is what checkInvariants reads: one transaction (Verify), or
// short ones of a bounded number of records each (the background check).
type invReader interface {
	hasBucket(name string) bool
	get(bucket, key string) []byte
	sequence(bucket string) uint64
	schemaVersion() uint64
	topLevel() []string
	// forEach calls fn for every key and value of bucket, in order; k and
	// v are valid only during the call. It stops at fn's first error.
	forEach(bucket string, fn func(k, v []byte) error) error
}

// txReader reads in one transaction: Verify's, which sees one state.
type txReader struct {
	tx *Tx
}

func (r *txReader) hasBucket(name string) bool { return r.tx.btx.Bucket([]byte(name)) != nil }

func (r *txReader) get(bucket, key string) []byte {
	return bytes.Clone(r.tx.btx.Bucket([]byte(bucket)).Get([]byte(key)))
}

func (r *txReader) sequence(bucket string) uint64 { return r.tx.btx.Bucket([]byte(bucket)).Sequence() }

func (r *txReader) schemaVersion() uint64 {
	v, _ := schemaVersion(r.tx.btx)
	return v
}

func (r *txReader) topLevel() []string {
	var names []string
	_ = r.tx.btx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		names = append(names, string(name))
		return nil
	})
	return names
}

func (r *txReader) forEach(bucket string, fn func(k, v []byte) error) error {
	return r.tx.btx.Bucket([]byte(bucket)).ForEach(fn)
}

// checkInvariants returns the violations of the store's invariants r
// meets, up to a few hundred. It stops early, with what it found so far,
// when a walk of r returns an error (the background check's stop).
func checkInvariants(r invReader) []finding {
	c := &invChecker{r: r}
	if !c.checkSchema() || !c.checkSales() || !c.checkOutbox() || !c.checkEvents() || !c.checkCounters() {
		return c.found
	}
	c.checkForeignBuckets()
	return c.found
}

// invChecker is one run of checkInvariants: what it reads, and the
// findings it collected so far. Each check* method returns false when
// checkInvariants must stop there (a walk of r returned an error, or a
// bucket is missing).
type invChecker struct {
	r     invReader
	found []finding
}

// maxFindings is how many findings checkInvariants collects at most.
const maxFindings = 200

func (c *invChecker) add(f finding) {
	if len(c.found) < maxFindings {
		c.found = append(c.found, f)
	}
}

func (c *invChecker) bad(kind findingKind, format string, args ...any) {
	c.add(finding{kind: kind, text: fmt.Sprintf(format, args...)})
}

// badRecord is a problem that names a record.
func (c *invChecker) badRecord(record string, seq uint64, format string, args ...any) {
	c.add(finding{kind: findSure, text: fmt.Sprintf(format, args...), record: record, seq: seq})
}

// badEntry is an index entry that does not match the records.
func (c *invChecker) badEntry(bucket string, k []byte, format string, args ...any) {
	c.add(finding{kind: findEntry, text: fmt.Sprintf(format, args...), record: fmt.Sprintf("%s entry %q", bucket, k),
		bucket: bucket, key: bytes.Clone(k)})
}

// count checks that the meta counter key holds n.
func (c *invChecker) count(key string, n int) {
	if got := c.r.get(bucketMeta, key); len(got) != 8 || binary.BigEndian.Uint64(got) != uint64(n) {
		c.bad(findWhole, "meta %s is %x, but there are %d", key, got, n)
	}
}

// sameSet checks that an index holds exactly the keys of want, each with
// its value.
func (c *invChecker) sameSet(bucket string, want map[string][]byte) bool {
	n := 0
	if c.r.forEach(bucket, func(k, v []byte) error {
		n++
		w, ok := want[string(k)]
		switch {
		case !ok:
			c.badEntry(bucket, k, "%s holds %q, which matches no record", bucket, k)
		case !bytes.Equal(v, w):
			c.badEntry(bucket, k, "%s entry %q is %x, want %x", bucket, k, v, w)
		}
		return nil
	}) != nil {
		return false
	}
	if n != len(want) {
		c.bad(findWhole, "%s holds %d keys, want %d", bucket, n, len(want))
	}
	return true
}

// checkSchema checks that every schema bucket is there (it stops at the
// first missing) and the schema version.
func (c *invChecker) checkSchema() bool {
	for _, name := range schemaBuckets() {
		if !c.r.hasBucket(name) {
			c.bad(findSure, "bucket %q is missing", name)
			return false
		}
	}
	if v := c.r.schemaVersion(); v != uint64(len(schema())) {
		c.bad(findSure, "schema version %d, want %d", v, len(schema()))
	}
	return true
}

// checkSales checks the sales, their counts and their two indexes.
func (c *invChecker) checkSales() bool {
	open, done := map[string][]byte{}, map[string][]byte{}
	nSales := 0
	if c.r.forEach(bucketSales, func(k, v []byte) error {
		nSales++
		var s Sale
		if err := json.Unmarshal(v, &s); err != nil {
			c.badRecord(fmt.Sprintf("sale %q", k), 0, "sale %q does not decode: %v (what to do: restore the newest backup)", k, err)
			return nil
		}
		if s.Reference != string(k) {
			c.bad(findSure, "sale under %q has reference %q", k, s.Reference)
		}
		if s.Final {
			done[string(timeRefKey(s.FinishedAt, s.Reference))] = []byte{}
		} else {
			open[s.Reference] = openValue(&s)
		}
		return nil
	}) != nil {
		return false
	}
	c.count(keyNSales, nSales)
	c.count(keyNOpen, len(open))
	return c.sameSet(bucketOpen, open) && c.sameSet(bucketDone, done)
}

// checkOutbox checks the outbox's commands, their count, the bucket's
// sequence and the two indexes.
func (c *invChecker) checkOutbox() bool {
	byRef, due := map[string][]byte{}, map[string][]byte{}
	nCommands, maxID := 0, uint64(0)
	if c.r.forEach(bucketOutbox, func(k, v []byte) error {
		nCommands++
		var cmd Command
		if err := json.Unmarshal(v, &cmd); err != nil {
			c.badRecord(fmt.Sprintf("command %d", keyU64(k)), 0, "command %d (key %x) does not decode: %v", keyU64(k), k, err)
			return nil
		}
		if len(k) != 8 || keyU64(k) != cmd.ID || cmd.ID == 0 {
			c.bad(findSure, "command under %x has id %d", k, cmd.ID)
		}
		maxID = max(maxID, cmd.ID)
		byRef[string(refIDKey(cmd.Reference, cmd.ID))] = []byte{}
		due[string(timeIDKey(cmd.NextAttempt, cmd.ID))] = dueValue(&cmd)
		return nil
	}) != nil {
		return false
	}
	// The sequence only grows: read after the walk, it is at least every
	// id a command had when the walk read it.
	if seq := c.r.sequence(bucketOutbox); maxID > seq {
		c.bad(findSure, "command id %d is past the outbox sequence %d", maxID, seq)
	}
	c.count(keyNCommands, nCommands)
	return c.sameSet(bucketOutRef, byRef) && c.sameSet(bucketOutDue, due)
}

// checkEvents checks the events: consecutive sequence numbers ending at
// the bucket's sequence, and their count.
func (c *invChecker) checkEvents() bool {
	nEvents, prev := 0, uint64(0)
	if c.r.forEach(bucketEvents, func(k, v []byte) error {
		nEvents++
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			c.badRecord(fmt.Sprintf("event %d", keyU64(k)), keyU64(k), "event %d (key %x) does not decode: %v", keyU64(k), k, err)
			prev = keyU64(k)
			return nil
		}
		if len(k) != 8 || keyU64(k) != e.Seq {
			c.bad(findSure, "event under %x has seq %d", k, e.Seq)
		}
		if prev != 0 && e.Seq != prev+1 {
			c.bad(findWhole, "event seq %d follows %d: a gap", e.Seq, prev)
		}
		prev = e.Seq
		return nil
	}) != nil {
		return false
	}
	if seq := c.r.sequence(bucketEvents); prev != 0 && prev != seq {
		c.bad(findWhole, "last event has seq %d, but the sequence is at %d", prev, seq)
	}
	c.count(keyNEvents, nEvents)
	return true
}

// checkCounters checks that the counters are 8-byte integers.
func (c *invChecker) checkCounters() bool {
	return c.r.forEach(bucketCounters, func(k, v []byte) error {
		if len(v) != 8 {
			c.bad(findSure, "counter %q is %x", k, v)
		}
		return nil
	}) == nil
}

// checkForeignBuckets checks that there are no foreign top-level buckets.
func (c *invChecker) checkForeignBuckets() {
	known := map[string]bool{}
	for _, name := range schemaBuckets() {
		known[name] = true
	}
	for _, name := range c.r.topLevel() {
		if !known[name] {
			c.bad(findSure, "unknown bucket %q", name)
		}
	}
}

// entryHolds reports whether the index entry bucket/k, read in btx, still
// fails to match the record it indexes.
func entryHolds(btx *bolt.Tx, bucket string, k []byte) bool {
	ix := btx.Bucket([]byte(bucket))
	if ix == nil {
		return true
	}
	v := ix.Get(k)
	if v == nil {
		return false // gone since: a sale finished or a command done between two chunks
	}
	var want []byte
	switch bucket {
	case bucketOpen, bucketDone:
		ref := k
		if bucket == bucketDone {
			if len(k) < 8 {
				return true
			}
			ref = k[8:]
		}
		var s Sale
		sv := btx.Bucket([]byte(bucketSales)).Get(ref)
		if sv == nil || json.Unmarshal(sv, &s) != nil {
			return true
		}
		switch {
		case bucket == bucketOpen && !s.Final:
			want = openValue(&s)
		case bucket == bucketDone && s.Final && bytes.Equal(timeRefKey(s.FinishedAt, s.Reference), k):
			want = []byte{}
		default:
			return true
		}
	case bucketOutRef, bucketOutDue:
		if len(k) < 8 {
			return true
		}
		var c Command
		cv := btx.Bucket([]byte(bucketOutbox)).Get(k[len(k)-8:])
		if cv == nil || json.Unmarshal(cv, &c) != nil {
			return true
		}
		if bucket == bucketOutRef {
			if !bytes.Equal(refIDKey(c.Reference, c.ID), k) {
				return true
			}
			want = []byte{}
		} else {
			if !bytes.Equal(timeIDKey(c.NextAttempt, c.ID), k) {
				return true
			}
			want = dueValue(&c)
		}
	default:
		return true
	}
	return !bytes.Equal(v, want)
}
