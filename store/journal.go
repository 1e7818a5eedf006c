package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/tillbox/tillbox/store/atomicfile"
)

// The journal makes a write durable with one fdatasync instead of bbolt's
// two (data pages, then the meta page), for the writes a person waits for:
// the POS's new sale, the customer's scan, the mark before a payment
// request goes out.
//
// [DB.Journaled] runs its function in a bbolt write transaction, records
// every write it makes (put, delete, sequence) and rolls the transaction
// back; the record is appended to the journal file beside the database
// and fdatasynced, and kept in memory as pending. Every later transaction
// sees the pending writes: a write transaction (Update, Batch, Journaled)
// replays them first and, when it commits to bbolt, takes them with it; a
// View while writes are pending replays them in a write transaction that
// it rolls back. A background flusher commits the pending writes to bbolt
// once the journaled writes pause (flushIdle) or many are pending
// (flushMany), in one commit for all of them; any other commit to bbolt
// takes them along too.
//
// After a crash or a power cut, Open replays the journal's records onto
// the database in one commit, but only those made on the very state the
// database is in: each record names the database (its journal id, kept in
// the meta bucket), the bbolt transaction its chain of pending writes
// started from, and a nonce of that chain. A commit to bbolt starts a new
// chain at the start of the file, so records of an applied chain are never
// replayed, nor are those of a newer database when an older backup was
// restored in its place; Open clears every record of the file once it has
// replayed the chain of the file's state.
//
// The file is preallocated and written in whole 4 KiB blocks, each record
// in blocks of its own: an fdatasync then flushes only data, and a torn
// write can only damage the record being written, which its checksum
// rejects (its caller was never told it was durable).

// JournalSuffix is appended to the database's path to name its journal.
const JournalSuffix = ".journal"

const (
	journalBlock   = 4096
	journalSize    = 4 << 20 // preallocated; when full, a write commits to bbolt
	journalMagic   = "TBJ1"
	journalHdrSize = 4 + 8 + 8 + 8 + 4 + 4 + 4 // magic, db id, nonce, base txid, seq, length, crc
	keyJournalID   = "journal_id"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journal is the open journal file and the chain being written.
type journal struct {
	f     *os.File
	id    uint64 // the database's journal id
	nonce uint64 // of the current chain
	base  uint64 // bbolt txid the current chain started from
	seq   uint32 // records in the current chain
	off   int64  // where the next record goes
}

// Journal record operations.
const (
	opPut byte = iota + 1
	opDelete
	opSetSequence
)

// recordPut and its kin add a write to the transaction's record, when it
// is being recorded.
func (tx *Tx) recordPut(bucket string, k, v []byte) {
	if tx.ops == nil {
		return
	}
	*tx.ops = append(*tx.ops, opPut, byte(len(bucket)))
	*tx.ops = append(*tx.ops, bucket...)
	*tx.ops = binary.AppendUvarint(*tx.ops, uint64(len(k)))
	*tx.ops = append(*tx.ops, k...)
	*tx.ops = binary.AppendUvarint(*tx.ops, uint64(len(v)))
	*tx.ops = append(*tx.ops, v...)
}

func (tx *Tx) recordDelete(bucket string, k []byte) {
	if tx.ops == nil {
		return
	}
	*tx.ops = append(*tx.ops, opDelete, byte(len(bucket)))
	*tx.ops = append(*tx.ops, bucket...)
	*tx.ops = binary.AppendUvarint(*tx.ops, uint64(len(k)))
	*tx.ops = append(*tx.ops, k...)
}

func (tx *Tx) recordSequence(bucket string, n uint64) {
	if tx.ops == nil {
		return
	}
	*tx.ops = append(*tx.ops, opSetSequence, byte(len(bucket)))
	*tx.ops = append(*tx.ops, bucket...)
	*tx.ops = binary.BigEndian.AppendUint64(*tx.ops, n)
}

// bucket is a schema bucket whose writes are recorded for the journal.
type bucket struct {
	*bolt.Bucket
	name string
	tx   *Tx
}

// Put stores k = v.
func (b bucket) Put(k, v []byte) error {
	if err := b.Bucket.Put(k, v); err != nil {
		return err
	}
	b.tx.recordPut(b.name, k, v)
	return nil
}

// Delete removes k.
func (b bucket) Delete(k []byte) error {
	if err := b.Bucket.Delete(k); err != nil {
		return err
	}
	b.tx.recordDelete(b.name, k)
	return nil
}

// NextSequence increments and returns the bucket's sequence.
func (b bucket) NextSequence() (uint64, error) {
	n, err := b.Bucket.NextSequence()
	if err != nil {
		return 0, err
	}
	b.tx.recordSequence(b.name, n)
	return n, nil
}

// replay applies recorded writes to a bbolt write transaction.
func replay(btx *bolt.Tx, ops []byte) error {
	bad := errors.New("malformed journal record")
	for len(ops) > 0 {
		if len(ops) < 2 || len(ops) < 2+int(ops[1]) {
			return bad
		}
		op, name := ops[0], ops[2:2+int(ops[1])]
		ops = ops[2+len(name):]
		b := btx.Bucket(name)
		if b == nil {
			return fmt.Errorf("journal record names the bucket %q, which is missing", name)
		}
		if appendMostly(string(name)) {
			b.FillPercent = 0.9 // as Tx.bucket sets it
		}
		bytesOf := func() ([]byte, bool) {
			n, w := binary.Uvarint(ops)
			if w <= 0 || uint64(len(ops)-w) < n {
				return nil, false
			}
			v := ops[w : w+int(n)]
			ops = ops[w+int(n):]
			return v, true
		}
		var err error
		switch op {
		case opPut:
			k, ok := bytesOf()
			v, ok2 := bytesOf()
			if !ok || !ok2 {
				return bad
			}
			err = b.Put(k, v)
		case opDelete:
			k, ok := bytesOf()
			if !ok {
				return bad
			}
			err = b.Delete(k)
		case opSetSequence:
			if len(ops) < 8 {
				return bad
			}
			err = b.SetSequence(binary.BigEndian.Uint64(ops))
			ops = ops[8:]
		default:
			return bad
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// openJournal opens (or creates, preallocated) the journal of the database
// at path, whose journal id is id.
func openJournal(path string, id uint64) (*journal, error) {
	jpath := path + JournalSuffix
	f, err := os.OpenFile(jpath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: journal: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < journalSize {
		// Written, not just allocated: an fdatasync of a record then has
		// no block allocation or size change to flush.
		_, err = f.WriteAt(make([]byte, journalSize-fi.Size()), fi.Size())
		if err == nil {
			err = f.Sync()
		}
		if err == nil {
			err = atomicfile.SyncDir(filepath.Dir(jpath))
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store: journal %s: %w", jpath, err)
	}
	return &journal{f: f, id: id}, nil
}

// restart begins a new chain at the start of the file, on bbolt's state
// txid.
func (j *journal) restart(txid uint64) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	j.nonce, j.base, j.seq, j.off = binary.BigEndian.Uint64(b[:]), txid, 0, 0
}

// fits reports whether a record of ops fits in the file.
func (j *journal) fits(ops []byte) bool {
	return j.off+blocks(journalHdrSize+len(ops)) <= journalSize
}

func blocks(n int) int64 {
	return int64((n + journalBlock - 1) / journalBlock * journalBlock)
}

// append writes a record of ops and makes it durable.
func (j *journal) append(ops []byte) error {
	buf := make([]byte, blocks(journalHdrSize+len(ops)))
	copy(buf, journalMagic)
	binary.BigEndian.PutUint64(buf[4:], j.id)
	binary.BigEndian.PutUint64(buf[12:], j.nonce)
	binary.BigEndian.PutUint64(buf[20:], j.base)
	binary.BigEndian.PutUint32(buf[28:], j.seq+1)
	binary.BigEndian.PutUint32(buf[32:], uint32(len(ops)))
	copy(buf[journalHdrSize:], ops)
	binary.BigEndian.PutUint32(buf[36:], crc32.Checksum(append(buf[4:36:36], ops...), crcTable))
	if _, err := j.f.WriteAt(buf, j.off); err != nil {
		return err
	}
	if err := fdatasync(j.f); err != nil {
		return err
	}
	j.seq++
	j.off += int64(len(buf))
	return nil
}

// journalID returns the database's journal id (0 when the schema has
// none: then there is no journal).
func journalID(bdb *bolt.DB) (uint64, error) {
	var id uint64
	err := bdb.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta)) // none in an empty file, before the migrations
		if meta == nil {
			return nil
		}
		if v := meta.Get([]byte(keyJournalID)); len(v) == 8 {
			id = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return id, err
}

// newJournalID is a random non-zero id.
func newJournalID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// recoverJournal replays the journal's chain made on the database's
// current state, if any, in one durable commit. It reads the journal
// without writing to it; startJournal opens it for new records once Open
// is done with the file.
//
// A record at the chain's end that fails its check is dropped: it is the
// one being written when the process died or the power went, and its
// writer was never told it was durable. A record that fails its check
// with records of its chain after it is damage: those were acknowledged,
// and replaying only what comes before would lose them without a word. Open
// then refuses with a [*JournalError], and neither file is changed.
func (db *DB) recoverJournal() error {
	id, err := journalID(db.bolt)
	if err != nil || id == 0 {
		return err
	}
	jpath := db.path + JournalSuffix
	f, err := os.Open(jpath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("store: journal: %w", err)
	}
	defer f.Close()
	var txid uint64
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		txid = uint64(tx.ID())
		return nil
	})
	scan, err := readChain(f, id, txid)
	if err != nil {
		return fmt.Errorf("store: read journal %s: %w", jpath, err)
	}
	if scan.damaged() {
		jerr := journalError(db.path, scan)
		db.log.Error("journal damaged: acknowledged writes cannot be replayed; not starting",
			"journal", jpath, "record", jerr.Record, "offset", jerr.Offset, "later_records", len(jerr.Later),
			"sales", jerr.Sales, "fix", jerr.Command())
		return jerr
	}
	if scan.endBad {
		db.log.Warn("journal: its last record does not check and is not replayed (a write torn by a crash; it was never acknowledged)",
			"journal", jpath, "record", len(scan.records)+1, "offset", scan.end)
	}
	if len(scan.records) > 0 {
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			for _, ops := range scan.records {
				if err := replay(tx, ops); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return &CorruptError{Path: jpath, Reason: "its records do not apply", Err: err}
		}
		db.log.Info("journal replayed", "records", len(scan.records))
	}
	return nil
}

// startJournal opens the journal for new records on the file as it is now.
// Every block that starts a record is zeroed and synced first: the file's
// records were replayed (or made on another state), and records of an
// earlier chain left there could otherwise match a later state of this
// file (after a compaction, or a backup restored in its place, bbolt's
// transaction ids start again): the first block's as a chain of that
// state, the others' as records a torn first one would hide.
func (db *DB) startJournal() error {
	id, err := journalID(db.bolt)
	if err != nil || id == 0 {
		return err
	}
	j, err := openJournal(db.path, id)
	if err != nil {
		return err
	}
	err = clearJournal(j.f)
	if err == nil {
		err = fdatasync(j.f)
	}
	if err != nil {
		j.f.Close()
		return fmt.Errorf("store: journal: %w", err)
	}
	var txid uint64
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		txid = uint64(tx.ID())
		return nil
	})
	j.restart(txid)
	db.journal = j
	return nil
}

// clearJournal zeroes the first block of f and every other block that does
// not start with zeros (a record's header, or what is left of one).
func clearJournal(f *os.File) error {
	zero := make([]byte, journalBlock)
	if _, err := f.WriteAt(zero, 0); err != nil {
		return err
	}
	hdr := make([]byte, journalHdrSize)
	for off := int64(journalBlock); off+journalHdrSize <= journalSize; off += journalBlock {
		if _, err := f.ReadAt(hdr, off); err != nil {
			return err
		}
		if allZero(hdr) {
			continue
		}
		if _, err := f.WriteAt(zero, off); err != nil {
			return err
		}
	}
	return nil
}
