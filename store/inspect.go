package store

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// setPanicOnFault makes a memory fault on bbolt's mapping of the file (a
// page past the end of a short file, say) a recoverable panic in this
// goroutine instead of a crash; call as defer setPanicOnFault()().
func setPanicOnFault() (restore func()) {
	old := debug.SetPanicOnFault(true)
	return func() { debug.SetPanicOnFault(old) }
}

// inspect vets an existing file without writing to it, and returns its
// schema version. The checks cost the same for ten sales or a million: the
// header (preflight), then, read-only through bbolt, the schema version and
// the first and last page of every bucket.
func inspect(path string, timeout time.Duration, known uint64) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("store: open: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return 0, fmt.Errorf("store: open: %w", err)
	case !fi.Mode().IsRegular():
		return 0, fmt.Errorf("store: open %s: not a regular file", path)
	case fi.Size() == 0:
		return 0, &CorruptError{Path: path, Reason: "the file is empty"}
	}
	reason, err := preflight(f)
	if err != nil {
		return 0, fmt.Errorf("store: read %s: %w", path, err)
	}
	if reason != "" {
		return 0, &CorruptError{Path: path, Reason: reason}
	}

	bdb, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: timeout, PreLoadFreelist: true})
	if err != nil {
		return 0, err
	}
	defer bdb.Close()
	return quickCheck(bdb, path, known)
}

// quickCheck reads the schema version and touches the root, first and last
// pages of every bucket of the current schema.
func quickCheck(bdb *bolt.DB, path string, known uint64) (version uint64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Path: path, Reason: "bbolt failed to read it", Err: fmt.Errorf("%v", r)}
		}
	}()
	defer setPanicOnFault()()
	err = bdb.View(func(btx *bolt.Tx) error {
		v, err := schemaVersion(btx)
		if errors.Is(err, errNotTillbox) {
			return &CorruptError{Path: path, Reason: err.Error()}
		} else if err != nil {
			return &CorruptError{Path: path, Reason: "reading the schema version failed", Err: err}
		}
		version = v
		if v > known {
			return &SchemaError{Path: path, Version: v, Known: known}
		}
		if v < known {
			return nil // an older layout: the migrations' business
		}
		for _, name := range schemaBuckets() {
			b := btx.Bucket([]byte(name))
			if b == nil {
				return &CorruptError{Path: path, Reason: fmt.Sprintf("bucket %q is missing", name)}
			}
			c := b.Cursor()
			c.First()
			c.Last()
		}
		meta := btx.Bucket([]byte(bucketMeta))
		for _, k := range countKeys() {
			if len(meta.Get([]byte(k))) != 8 {
				return &CorruptError{Path: path, Reason: fmt.Sprintf("meta %s is missing", k)}
			}
		}
		return nil
	})
	return version, err
}
