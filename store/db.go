package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Defaults of [Options].
const (
	DefaultTimeout        = time.Second
	DefaultRetention      = 90 * 24 * time.Hour
	DefaultCompactMinFree = 16 << 20
)

// Options configure [Open]. The zero value is the production configuration.
type Options struct {
	// Timeout bounds the wait for the file lock; after it Open returns a
	// [*LockedError] naming the holder. Default [DefaultTimeout].
	Timeout time.Duration

	// Retention is how long a finished sale is kept before [DB.Prune] drops
	// it. Default [DefaultRetention].
	Retention time.Duration

	// EventRetention is how long an event is kept before [DB.Prune] drops
	// it, whatever became of its sale. Default: Retention.
	EventRetention time.Duration

	// CompactMinFree: Open compacts the file when at least this many bytes
	// and at least half of the file are free pages (typically after a large
	// Prune). Default [DefaultCompactMinFree]; negative never compacts.
	CompactMinFree int64

	// NoSync skips fsync on commit. Only for benchmarks and fixtures: a
	// commit is then not durable.
	NoSync bool

	// Logger receives migrations, compactions and prunes. Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.EventRetention <= 0 {
		o.EventRetention = o.Retention
	}
	if o.CompactMinFree == 0 {
		o.CompactMinFree = DefaultCompactMinFree
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// DB is an open tillbox database: one bbolt file holding the sales, the
// outbox of commands to Vipps MobilePay and the event log the POS reads.
// It is safe for concurrent use; one [DB.Update] runs at a time.
type DB struct {
	bolt     *bolt.DB
	path     string
	opts     Options
	log      *slog.Logger
	pageSize int // the file's; read once, as bbolt's Info races with remapping

	lastRelease  atomic.Int64 // unix ns; see maybeReleaseMapping
	sinceRelease atomic.Int64 // transactions

	// Batch: calls go to the committer goroutine through batchCh, which
	// Close closes (batchClosed, under batchMu); batchDone is closed when
	// the committer has returned.
	batchMu     sync.RWMutex
	batchClosed bool
	batchCh     chan *batchCall
	batchDone   chan struct{}
}

// Open opens the database at path, creating it when the file does not exist
// and migrating it to the current schema. It never modifies a file it
// refuses: a file held by another process gives a [*LockedError] after
// opts.Timeout, an unreadable one a [*CorruptError], one from a newer
// tillbox a [*SchemaError].
//
// Open reads only the file header, the schema version and the roots of the
// buckets, so its cost does not grow with the number of sales; [DB.Verify]
// checks every page.
func Open(path string, opts Options) (*DB, error) {
	return open(path, opts, schema())
}

func open(path string, opts Options, migs []migration) (*DB, error) {
	opts = opts.withDefaults()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := create(path, opts, migs); err != nil {
			return nil, fmt.Errorf("store: create %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}

	version, err := inspect(path, opts.Timeout, uint64(len(migs)))
	if err != nil {
		return nil, err
	}
	bdb, err := openWritable(path, opts)
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: bdb, path: path, opts: opts, log: opts.Logger.With("db", path), pageSize: bdb.Info().PageSize}
	db.writePID()

	if version < uint64(len(migs)) {
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			_, err := migrate(tx, migs)
			return err
		}); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("store: %s: %w", path, err)
		}
		db.log.Info("database schema migrated", "from", version, "to", len(migs))
	}

	if err := db.compactIfSparse(); err != nil {
		_ = db.Close()
		return nil, err
	}
	db.batchCh, db.batchDone = make(chan *batchCall, maxBatch), make(chan struct{})
	go db.committer()
	return db, nil
}

// create makes a new database beside path and links it into place, so that
// path never names a half-initialised file: an empty or headless file at
// path is corruption, not a database that was being created.
func create(path string, opts Options, migs []migration) error {
	tmp := fmt.Sprintf("%s.new-%d", path, os.Getpid())
	_ = os.Remove(tmp)
	defer os.Remove(tmp)
	bdb, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync})
	if err != nil {
		return err
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		_, err := migrate(tx, migs)
		return err
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Link, unlike rename, never replaces a database another process created
	// meanwhile.
	switch err := os.Link(tmp, path); {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		// Filesystems without hard links.
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	opts.Logger.Info("database created", "db", path, "schema", len(migs))
	return nil
}

// openWritable opens path for writing, holding the exclusive lock. It checks
// that path still names the file it locked: a compaction by another process
// may have replaced it while this one waited.
func openWritable(path string, opts Options) (*bolt.DB, error) {
	for range 3 {
		before, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("store: open: %w", err)
		}
		bdb, err := openBolt(path, &bolt.Options{
			Timeout:      opts.Timeout,
			NoSync:       opts.NoSync,
			FreelistType: bolt.FreelistMapType,
		})
		if err != nil {
			return nil, err
		}
		after, err := os.Stat(path)
		if err == nil && os.SameFile(before, after) {
			return bdb, nil
		}
		_ = bdb.Close()
	}
	return nil, fmt.Errorf("store: open %s: the file keeps being replaced while opening", path)
}

// openBolt opens path with bbolt and turns its failures into this package's
// errors. A panic or a memory fault while bbolt reads the file is
// corruption; preflight has ruled out the ones that would kill the process.
func openBolt(path string, bo *bolt.Options) (bdb *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			bdb, err = nil, &CorruptError{Path: path, Reason: "bbolt failed to read it", Err: fmt.Errorf("%v", r)}
		}
	}()
	defer setPanicOnFault()()
	bdb, err = bolt.Open(path, 0o600, bo)
	switch {
	case err == nil:
		return bdb, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, lockedError(path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch):
		return nil, &CorruptError{Path: path, Reason: "bbolt refused it", Err: err}
	default:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
}

// Close releases the file and its lock. Close is idempotent.
func (db *DB) Close() error {
	if db.batchCh != nil {
		db.closeBatches()
	}
	db.removePID()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", db.path, err)
	}
	return nil
}

// Path returns the file's path as given to Open.
func (db *DB) Path() string { return db.path }

// Update runs fn in a read-write transaction and commits it durably (data
// and meta page fsynced) before returning nil. If fn returns an error or
// panics, nothing fn did is kept and fn's error is returned unchanged.
// Only one Update runs at a time; do not call Update or View from inside fn.
func (db *DB) Update(fn func(*Tx) error) error {
	return db.run(db.bolt.Update, "commit: ", fn)
}

// View runs fn in a read-only transaction: a consistent snapshot, which
// writers do not block and which does not block them. Do not call Update or
// View from inside fn (bbolt may deadlock when it must grow the file).
func (db *DB) View(fn func(*Tx) error) error {
	return db.run(db.bolt.View, "", fn)
}

// run is Update and View: fn's own error comes back unchanged, bbolt's is
// wrapped (what names the step that failed).
func (db *DB) run(tx func(func(*bolt.Tx) error) error, what string, fn func(*Tx) error) error {
	var fnErr error
	err := tx(func(btx *bolt.Tx) error {
		fnErr = fn(&Tx{btx: btx, path: db.path})
		return fnErr
	})
	if err == nil {
		db.maybeReleaseMapping()
	}
	switch {
	case fnErr != nil:
		return fnErr
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("store: %w", ErrClosed)
	case err != nil:
		return fmt.Errorf("store: %s%w", what, err)
	}
	return nil
}

// Tx is a transaction, valid only inside the function given to
// [DB.Update] or [DB.View]. Records returned by its methods are copies.
type Tx struct {
	btx  *bolt.Tx
	path string
}

// OnCommit registers fn to run once the transaction has been committed
// durably, before Update returns: the place to tell the POS and the display
// about what was written. fn runs after the write lock is released, so it
// may call View (a notification that fails to arrive is the subscriber's to
// catch up on: the event log has it). fn does not run if the transaction
// fails.
func (tx *Tx) OnCommit(fn func()) { tx.btx.OnCommit(fn) }

// bucket returns a schema bucket; its absence means a damaged file.
func (tx *Tx) bucket(name string) (*bolt.Bucket, error) {
	b := tx.btx.Bucket([]byte(name))
	if b == nil {
		return nil, &CorruptError{Path: tx.path, Reason: fmt.Sprintf("bucket %q is missing", name)}
	}
	if appendMostly(name) {
		// Keys arrive mostly in order, so pages that split at bbolt's
		// default half-full would stay half-empty for good.
		b.FillPercent = 0.9
	}
	return b, nil
}

// corrupt reports a record that does not decode.
func (tx *Tx) corrupt(what string, err error) error {
	return &CorruptError{Path: tx.path, Reason: what + " does not decode", Err: err}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
