package store

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap one of these (or a
// bbolt or os error) with context; branch on them with [errors.Is].
var (
	// ErrNotFound is returned when a sale, command or other record does not
	// exist.
	ErrNotFound = errors.New("not found")

	// ErrExists is returned by [Tx.CreateSale] when a sale with the same
	// reference is already stored.
	ErrExists = errors.New("already exists")

	// ErrInvalid is returned when a record cannot be stored as given: an empty
	// or malformed reference, a missing timestamp the store indexes by, and
	// similar caller mistakes. Nothing is written.
	ErrInvalid = errors.New("invalid record")

	// ErrLocked is returned by [Open] when another process (or another [DB] in
	// this process) holds the database file. The error is a [*LockedError].
	ErrLocked = errors.New("database is locked")

	// ErrCorrupt is returned when the file is not a readable tillbox database.
	// The file is never modified. The error is a [*CorruptError], whose
	// message says how to restore from a backup.
	ErrCorrupt = errors.New("database is corrupt")

	// ErrSchemaTooNew is returned by [Open] when the file was written by a
	// newer tillbox whose schema this binary does not know. The file is not
	// modified. The error is a [*SchemaError].
	ErrSchemaTooNew = errors.New("database schema is newer than this tillbox")

	// ErrJournalDamaged is returned by [Open] when the journal beside the
	// database holds a damaged record with acknowledged records after it.
	// Neither file is modified. The error is a [*JournalError], whose
	// message names the record and says how to recover.
	ErrJournalDamaged = errors.New("journal is damaged")

	// ErrClosed is returned when a [DB] is used after [DB.Close].
	ErrClosed = errors.New("database is closed")
)

// LockedError reports that the database file is held by another process.
type LockedError struct {
	Path string
	// PID of the holder as it recorded itself in the pid file beside the
	// database, or 0 when unknown.
	PID int
	// Self is true when the holder is this very process (a second Open of the
	// same file).
	Self bool
}

func (e *LockedError) Error() string {
	switch {
	case e.PID == 0:
		return fmt.Sprintf("database %s is locked by another process (pid unknown)", e.Path)
	case e.Self:
		return fmt.Sprintf("database %s is locked by another tillbox (pid %d, this process)", e.Path, e.PID)
	default:
		return fmt.Sprintf("database %s is locked by another tillbox (pid %d)", e.Path, e.PID)
	}
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// CorruptError reports a database file that cannot be used. tillbox never
// repairs or rewrites such a file; Error says how to restore from a backup.
type CorruptError struct {
	Path   string
	Reason string // what is wrong, for the log and the technician
	Err    error  // the underlying error, if any
	// Record names the record that does not decode, when one does not
	// ("event 12", "sale \"ref\"", "command 7"); Seq is its sequence
	// number when it is an event.
	Record string
	Seq    uint64
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "database %s is corrupt: %s", e.Path, e.Reason)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	fmt.Fprintf(&b, "; the file was left untouched. To restore: %s", RestoreSteps(e.Path))
	return b.String()
}

// RestoreSteps says how to put a backup in place of the database at path:
// the database and its journal are moved aside (kept for a closer look),
// and the backup copied in. The journal's records were made on the newer
// state; Open starts a new journal when there is none. (One left in place
// is replayed only where its chain was made on the restored file's exact
// state, and a torn first record of it could make Open refuse the file.)
func RestoreSteps(path string) string {
	q := shellQuote(path)
	return fmt.Sprintf("stop tillbox, move the database and its journal aside (mv %s %s; mv %s %s), "+
		"copy the newest backup (made with `tillbox backup FILE`) to %s, and start tillbox again (it starts a new journal)",
		q, shellQuote(path+".corrupt"), shellQuote(path+JournalSuffix), shellQuote(path+JournalSuffix+".corrupt"), q)
}

// shellQuote quotes path for a shell when it needs quoting.
func shellQuote(path string) string {
	if strings.ContainsAny(path, " \t'\"$`\\") {
		return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
	}
	return path
}

// Unwrap makes errors.Is(err, ErrCorrupt) true and exposes the cause.
func (e *CorruptError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.Err}
}

// SchemaError reports a database written by a newer tillbox.
type SchemaError struct {
	Path    string
	Version uint64 // the file's schema version
	Known   uint64 // the newest version this binary knows
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("database %s has schema version %d, but this tillbox knows only up to %d: "+
		"the file was left untouched; run the newer tillbox that wrote it, or restore a backup made by this version",
		e.Path, e.Version, e.Known)
}

// Unwrap makes errors.Is(err, ErrSchemaTooNew) true.
func (e *SchemaError) Unwrap() error { return ErrSchemaTooNew }

// JournalError reports a journal whose chain of acknowledged writes has a
// damaged record inside it (not a torn last one): replaying only the
// records before it would lose those after it, so [Open] refuses.
type JournalError struct {
	DB      string   // the database's path
	Record  uint32   // the first record of the chain that does not check
	Offset  int64    // its byte offset in the journal
	Valid   int      // checked records before it
	Later   []uint32 // checked records of the chain after it
	Sales   []string // sale references the records from Record on name (those of a damaged record as far as it reads)
	Missing []uint32 // records between Record and the last of Later that do not check
}

// Journal is the journal file's path.
func (e *JournalError) Journal() string { return e.DB + JournalSuffix }

// Command is the command line that salvages what the journal holds.
func (e *JournalError) Command() string { return SalvageCommand(e.DB) }

// SalvageCommand is the command line that salvages the journal of the
// database at path.
func SalvageCommand(path string) string {
	return "tillbox repair journal --db " + shellQuote(path)
}

func (e *JournalError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "journal %s is damaged: record %d (at byte %d) does not check, and %d checked record(s) of the same chain follow it",
		e.Journal(), e.Record, e.Offset, len(e.Later))
	if len(e.Later) > 0 {
		fmt.Fprintf(&b, " (%d to %d)", e.Later[0], e.Later[len(e.Later)-1])
	}
	b.WriteString(": writes tillbox acknowledged, which replaying only the ")
	fmt.Fprintf(&b, "%d record(s) before it would lose", e.Valid)
	if len(e.Sales) > 0 {
		const show = 10
		fmt.Fprintf(&b, " (sales %s", strings.Join(e.Sales[:min(show, len(e.Sales))], ", "))
		if len(e.Sales) > show {
			fmt.Fprintf(&b, " and %d more", len(e.Sales)-show)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ". tillbox does not start on it; the journal and the database %s were left untouched. "+
		"To recover: stop tillbox and run `%s`: it writes a repaired copy beside the database, lists every record "+
		"it kept and each it could not, and says how to put the copy in place. Or restore the newest backup: %s. "+
		"If a backup was just copied over the database with this journal left beside it, the journal is of the newer "+
		"state: move it aside (mv %s %s.old) and start tillbox again",
		e.DB, e.Command(), RestoreSteps(e.DB), shellQuote(e.Journal()), shellQuote(e.Journal()))
	return b.String()
}

// Unwrap makes errors.Is(err, ErrJournalDamaged) and errors.Is(err,
// ErrCorrupt) true.
func (e *JournalError) Unwrap() []error { return []error{ErrJournalDamaged, ErrCorrupt} }
