package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. Every top-level bucket belongs to the schema; a file with
// other top-level buckets and no meta bucket is not a tillbox database.
const (
	bucketMeta     = "meta"       // schema version and record counts
	bucketCounters = "counters"   // NextCounter: name → uint64
	bucketSales    = "sales"      // reference → Sale (JSON)
	bucketOpen     = "sales_open" // reference → CreatedAt + State (openValue), every sale with Final == false
	bucketDone     = "sales_done" // FinishedAt + reference → nil, every final sale (for Prune)
	bucketOutbox   = "outbox"     // ID → Command (JSON); the bucket sequence assigns IDs
	bucketOutRef   = "outbox_ref" // reference + NUL + ID → nil
	bucketOutDue   = "outbox_due" // NextAttempt + ID → kind, reference, deadline (dueValue)
	bucketEvents   = "events"     // Seq → Event (JSON); the bucket sequence assigns Seqs
)

// appendMostly reports whether new keys of a bucket mostly sort after the
// existing ones: sequence numbers, IDs, times, references made of a till and
// a counter.
func appendMostly(bucket string) bool {
	switch bucket {
	case bucketSales, bucketDone, bucketOutbox, bucketOutDue, bucketEvents:
		return true
	}
	return false
}

// Keys in the meta bucket.
const (
	keySchemaVersion = "schema_version"
	keyNSales        = "n_sales"
	keyNOpen         = "n_open"
	keyNCommands     = "n_commands"
	keyNEvents       = "n_events"
)

// schemaBuckets lists the top-level buckets of the current schema.
func schemaBuckets() []string {
	return []string{
		bucketMeta, bucketCounters, bucketSales, bucketOpen, bucketDone,
		bucketOutbox, bucketOutRef, bucketOutDue, bucketEvents,
	}
}

// countKeys lists the record counts kept in the meta bucket.
func countKeys() []string {
	return []string{keyNSales, keyNOpen, keyNCommands, keyNEvents}
}

// A migration moves the file from schema version i to i+1, where i is its
// index in the list. All pending migrations run in one transaction at Open:
// either the file reaches the current version or it is left as it was.
type migration func(tx *bolt.Tx) error

// schema returns the migrations of this binary, oldest first. Append only:
// never change or remove a migration that has shipped.
func schema() []migration {
	return []migration{
		migrateV1,
		migrateV2,
	}
}

// migrateV1 creates the buckets of the first schema and zeroes the counts.
// Like every shipped migration it names what it creates literally: it must
// not follow later changes of schemaBuckets.
func migrateV1(tx *bolt.Tx) error {
	for _, name := range []string{
		"meta", "counters", "sales", "sales_open", "sales_done",
		"outbox", "outbox_ref", "outbox_due", "events",
	} {
		if _, err := tx.CreateBucket([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket([]byte("meta"))
	for _, k := range []string{"n_sales", "n_open", "n_commands", "n_events"} {
		if err := meta.Put([]byte(k), u64Key(0)); err != nil {
			return err
		}
	}
	return nil
}

// migrateV2 fills the values of the index of unfinished sales (CreatedAt
// and State) and of the outbox's index by NextAttempt (what the outbox
// chooses by), which version 1 left empty, and gives the database the id
// its journal records carry.
func migrateV2(tx *bolt.Tx) error {
	t := &Tx{btx: tx, path: tx.DB().Path()}
	if err := tx.Bucket([]byte("meta")).Put([]byte("journal_id"), u64Key(newJournalID())); err != nil {
		return err
	}
	open, sales := tx.Bucket([]byte("sales_open")), tx.Bucket([]byte("sales"))
	var refs [][]byte
	if err := open.ForEach(func(k, _ []byte) error {
		refs = append(refs, k)
		return nil
	}); err != nil {
		return err
	}
	for _, k := range refs {
		var s Sale
		if err := json.Unmarshal(sales.Get(k), &s); err != nil {
			return t.corrupt(fmt.Sprintf("sale %q", k), err)
		}
		if err := open.Put(k, openValue(&s)); err != nil {
			return err
		}
	}
	outbox, due := tx.Bucket([]byte("outbox")), tx.Bucket([]byte("outbox_due"))
	return outbox.ForEach(func(k, v []byte) error {
		c, err := t.decodeCommand(keyU64(k), v)
		if err != nil {
			return err
		}
		if len(c.Kind) > maxKindLen {
			return t.corrupt(fmt.Sprintf("command %d", c.ID), fmt.Errorf("kind of %d bytes", len(c.Kind)))
		}
		return due.Put(timeIDKey(c.NextAttempt, c.ID), dueValue(c))
	})
}

// errNotTillbox is wrapped into a CorruptError by the caller.
var errNotTillbox = errors.New("not a tillbox database")

// schemaVersion reads the schema version of the file. An empty bbolt file
// (no buckets at all) is version 0.
func schemaVersion(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket([]byte(bucketMeta))
	if meta == nil {
		var names []string
		err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
		if err != nil {
			return 0, err
		}
		if len(names) == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("%w (it holds the buckets %s and no %q)", errNotTillbox, strings.Join(names, ", "), bucketMeta)
	}
	v := meta.Get([]byte(keySchemaVersion))
	if len(v) != 8 {
		return 0, fmt.Errorf("%w (bad %s %x)", errNotTillbox, keySchemaVersion, v)
	}
	return binary.BigEndian.Uint64(v), nil
}

// migrate brings tx from version from to len(migs).
func migrate(tx *bolt.Tx, migs []migration) (from uint64, err error) {
	from, err = schemaVersion(tx)
	if err != nil {
		return from, err
	}
	if from > uint64(len(migs)) {
		// Replaced by a newer tillbox's file since Open looked: never downgrade.
		return from, &SchemaError{Path: tx.DB().Path(), Version: from, Known: uint64(len(migs))}
	}
	for v := from; v < uint64(len(migs)); v++ {
		if err := migs[v](tx); err != nil {
			return from, fmt.Errorf("migrate schema %d → %d: %w", v, v+1, err)
		}
	}
	if from == uint64(len(migs)) {
		return from, nil
	}
	meta := tx.Bucket([]byte(bucketMeta))
	if meta == nil {
		return from, fmt.Errorf("migrate: no %s bucket after the migrations", bucketMeta)
	}
	return from, meta.Put([]byte(keySchemaVersion), u64Key(uint64(len(migs))))
}

// addCount adds delta to one of the record counts in the meta bucket.
func (tx *Tx) addCount(key string, delta int64) error {
	meta, err := tx.bucket(bucketMeta)
	if err != nil {
		return err
	}
	v := meta.Get([]byte(key))
	if len(v) != 8 {
		return &CorruptError{Path: tx.path, Reason: fmt.Sprintf("meta %s is missing", key)}
	}
	n := int64(binary.BigEndian.Uint64(v)) + delta
	if n < 0 {
		return &CorruptError{Path: tx.path, Reason: fmt.Sprintf("meta %s would drop below zero", key)}
	}
	return meta.Put([]byte(key), u64Key(uint64(n)))
}

// count reads one of the record counts in the meta bucket.
func (tx *Tx) count(key string) int {
	meta := tx.btx.Bucket([]byte(bucketMeta))
	if meta == nil {
		return 0
	}
	if v := meta.Get([]byte(key)); len(v) == 8 {
		return int(binary.BigEndian.Uint64(v))
	}
	return 0
}
