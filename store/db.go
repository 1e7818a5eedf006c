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

	"github.com/tillbox/tillbox/store/atomicfile"
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

	// HoldUnshipped makes [DB.Prune] keep every event after the shipped
	// mark ([Tx.Shipped]), whatever its age: the link to headquarters is
	// on and has not shipped them yet.
	HoldUnshipped bool

	// CompactMinFree: Open compacts the file when at least this many bytes
	// and at least half of the file are free pages (typically after a large
	// Prune). Default [DefaultCompactMinFree]; negative never compacts.
	CompactMinFree int64

	// NoJournal opens the file without its journal (journal.go): no journal
	// file is created beside it and none is replayed, and every write
	// commits to bbolt. For checking a copy (a backup); a live database
	// must be opened with its journal.
	NoJournal bool

	// CheckRecords makes Open start a check of every record in the
	// background (in short read transactions of 1 024 records each:
	// writers, and commits that grow the file, go on meanwhile); a record
	// that does not decode, or an index or count that disagrees with the
	// records, is then reported by [DB.Damage]. Its cost grows with the
	// file (about 1 s for 100 000 sales on a loaded amd64), so Open does
	// not wait for it; [DB.Checked] is closed when it is done.
	CheckRecords bool

	// checkChunkHook, for tests, runs between two chunks of the record
	// check, outside any transaction.
	checkChunkHook func()

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

	// The journal (journal.go). jmu is held by every write transaction
	// (and by a View replaying pending writes); pending are the journaled
	// writes not yet committed to bbolt, npending their number for a
	// lock-free look. The flusher commits them when signalled on flushCh;
	// flushDone is closed when it has returned.
	jmu       sync.Mutex
	journal   *journal // nil: every write commits to bbolt (NoSync, or after a journal failure)
	pending   [][]byte
	npending  atomic.Int32
	flushCh   chan struct{}
	flushDone chan struct{}
	flushHeld atomic.Bool // tests: the flusher leaves pending writes alone

	// Damage (damage.go): the first damaged record met, and the record
	// check started by Open.
	damage    atomic.Pointer[CorruptError]
	checkStop atomic.Bool
	checkDone chan struct{}
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

	// The journal first: its records were made on the file as it is, before
	// any migration or compaction this Open may do.
	useJournal := !opts.NoSync && !opts.NoJournal
	if useJournal {
		if err := db.recoverJournal(); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
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
	if useJournal {
		// A migration (version 2 gives the file its journal id) or a
		// compaction (which starts bbolt's transaction ids again) may have
		// happened: open the journal for the file as it is now, its old
		// records made unreadable.
		if err := db.startJournal(); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	db.batchCh, db.batchDone = make(chan *batchCall, maxBatch), make(chan struct{})
	db.flushCh, db.flushDone = make(chan struct{}, 1), make(chan struct{})
	go db.committer()
	go db.flusher(db.flushCh)
	db.checkDone = make(chan struct{})
	if opts.CheckRecords {
		go db.checkRecords()
	} else {
		close(db.checkDone)
	}
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
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
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
	if db.checkDone != nil {
		db.checkStop.Store(true)
		<-db.checkDone
	}
	if db.batchCh != nil {
		db.closeBatches()
	}
	if db.flushDone != nil {
		db.jmu.Lock()
		if db.flushCh != nil {
			close(db.flushCh)
			db.flushCh = nil
		}
		db.jmu.Unlock()
		<-db.flushDone
		if err := db.flush(); err != nil {
			db.log.Error("close: commit of journaled writes failed (they stay in the journal)", "err", err)
		}
	}
	db.jmu.Lock()
	if db.journal != nil {
		_ = db.journal.f.Close()
		db.journal = nil
	}
	db.jmu.Unlock()
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
// Only one write transaction runs at a time; do not call Update, View,
// Batch or Journaled from inside fn.
func (db *DB) Update(fn func(*Tx) error) error {
	var tx *Tx
	err := func() error {
		db.jmu.Lock()
		defer db.jmu.Unlock() // also when fn panics
		var txid uint64
		err := db.run(db.bolt.Update, "commit: ", func(t *Tx) error {
			tx, txid = t, uint64(t.btx.ID()) // once committed, the Tx no longer knows it
			if err := db.replayPending(t.btx); err != nil {
				return err
			}
			return fn(t)
		})
		if err == nil {
			db.committed(txid)
		}
		return err
	}()
	if err == nil {
		tx.runOnCommit()
	}
	return err
}

// View runs fn in a read-only transaction: a consistent snapshot, which
// writers do not block and which does not block them (while journaled
// writes wait for their commit to bbolt, a View replays them in a write
// transaction that it rolls back: for that moment it does block writers).
// Do not call Update, View, Batch or Journaled from inside fn.
func (db *DB) View(fn func(*Tx) error) error {
	if db.npending.Load() != 0 {
		db.jmu.Lock()
		if len(db.pending) != 0 {
			defer db.jmu.Unlock()
			return db.run(db.rolledBack, "", func(t *Tx) error {
				if err := db.replayPending(t.btx); err != nil {
					return err
				}
				return fn(t)
			})
		}
		db.jmu.Unlock()
	}
	return db.run(db.bolt.View, "", fn)
}

// rolledBack runs fn in a bbolt write transaction that it rolls back.
func (db *DB) rolledBack(fn func(*bolt.Tx) error) error {
	btx, err := db.bolt.Begin(true)
	if err != nil {
		return err
	}
	defer func() { _ = btx.Rollback() }()
	return fn(btx)
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
	if fnErr != nil {
		db.noteDamage(fnErr)
		return fnErr
	}
	return db.wrap(what, err)
}

// wrap turns bbolt's errors into this package's.
func (db *DB) wrap(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("store: %w", ErrClosed)
	default:
		return fmt.Errorf("store: %s%w", what, err)
	}
}

// Tx is a transaction, valid only inside the function given to
// [DB.Update], [DB.View], [DB.Batch] or [DB.Journaled]. Records returned
// by its methods are copies.
type Tx struct {
	btx      *bolt.Tx
	path     string
	ops      *[]byte  // the writes, recorded for the journal; nil when not journaled
	onCommit []func() // see OnCommit
}

// OnCommit registers fn to run once the transaction has been committed
// durably, before Update (Batch, Journaled) returns: the place to tell the
// POS and the display about what was written. fn runs after the write lock
// is released, so it may call View (a notification that fails to arrive is
// the subscriber's to catch up on: the event log has it). fn does not run
// if the transaction fails.
func (tx *Tx) OnCommit(fn func()) { tx.onCommit = append(tx.onCommit, fn) }

func (tx *Tx) runOnCommit() {
	for _, fn := range tx.onCommit {
		fn()
	}
}

// bucket returns a schema bucket; its absence means a damaged file.
func (tx *Tx) bucket(name string) (bucket, error) {
	b := tx.btx.Bucket([]byte(name))
	if b == nil {
		return bucket{}, &CorruptError{Path: tx.path, Reason: fmt.Sprintf("bucket %q is missing", name)}
	}
	if appendMostly(name) {
		// Keys arrive mostly in order, so pages that split at bbolt's
		// default half-full would stay half-empty for good.
		b.FillPercent = 0.9
	}
	return bucket{Bucket: b, name: name, tx: tx}, nil
}

// corrupt reports a record that does not decode.
func (tx *Tx) corrupt(what string, err error) error {
	return &CorruptError{Path: tx.path, Reason: what + " does not decode", Err: err, Record: what}
}
