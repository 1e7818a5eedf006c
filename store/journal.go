package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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

// chainScan is what readChain found in a journal file.
type chainScan struct {
	// records are the chain's records from the first, each checked: what
	// Open replays.
	records [][]byte
	// end is the offset of the first block that is not the chain's next
	// record; endBad says whether a record of the chain starts there but
	// fails its check (or is cut short) rather than nothing of the chain
	// (zeros, an older chain).
	end    int64
	endBad bool
	endRaw []byte // the body of the record at end, unchecked (for naming what it held)
	// later are checked records of the same chain (same database, base
	// and nonce) found after end. Records are written one after the other,
	// each made durable before the next is written: a record can only be
	// torn if none of its chain follows it. With later records, the record
	// at end was damaged after it was acknowledged, not torn.
	later []journalRecord
}

// journalRecord is one checked record of a chain.
type journalRecord struct {
	seq uint32
	off int64
	ops []byte
}

// damaged reports whether acknowledged records could not be read.
func (c *chainScan) damaged() bool { return len(c.later) > 0 }

// readChain reads the records at the start of the file that belong to one
// chain of the database id made on bbolt's state txid, in order, and looks
// past the chain's end for records of the same chain, which a damaged
// record would hide.
func readChain(r io.ReaderAt, id, txid uint64) (*chainScan, error) {
	cr := &chainReader{r: r, id: id, txid: txid, hdr: make([]byte, journalHdrSize)}
	c, nonce, err := cr.readRecords()
	if err != nil {
		return nil, err
	}
	anyNonce := len(c.records) == 0
	if anyNonce {
		look, err := cr.mayHideRecords()
		if err != nil {
			return nil, err
		}
		if !look {
			return c, nil
		}
	}
	if err := cr.findLater(c, nonce, anyNonce); err != nil {
		return nil, err
	}
	if len(c.later) > 0 {
		cr.markDamaged(c)
	}
	return c, nil
}

// chainReader reads the records of one chain of a journal file: that of
// the database id made on bbolt's state txid. hdr holds the header read
// last.
type chainReader struct {
	r        io.ReaderAt
	id, txid uint64
	hdr      []byte
}

// header reads the header at off into hdr: ok is false past the end of
// the file.
func (cr *chainReader) header(off int64) (bool, error) {
	if off+journalHdrSize > journalSize {
		return false, nil
	}
	_, err := cr.r.ReadAt(cr.hdr, off)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, io.EOF):
		return false, nil
	default:
		return false, err
	}
}

// ours reports whether the header in hdr names this database and state.
func (cr *chainReader) ours() bool {
	return string(cr.hdr[:4]) == journalMagic && binary.BigEndian.Uint64(cr.hdr[4:]) == cr.id &&
		binary.BigEndian.Uint64(cr.hdr[20:]) == cr.txid
}

// body reads and checks the record at off, whose header is in hdr.
func (cr *chainReader) body(off int64) ([]byte, bool) {
	n := binary.BigEndian.Uint32(cr.hdr[32:])
	if off+blocks(journalHdrSize+int(n)) > journalSize {
		return nil, false
	}
	ops := make([]byte, n)
	if _, err := cr.r.ReadAt(ops, off+journalHdrSize); err != nil {
		return nil, false
	}
	if crc32.Checksum(append(cr.hdr[4:36:36], ops...), crcTable) != binary.BigEndian.Uint32(cr.hdr[36:]) {
		return ops, false
	}
	return ops, true
}

// readRecords reads the chain's checked records from the start of the
// file, one after the other, up to the first block that is not the
// chain's next record (c.end, with c.endBad and c.endRaw saying what is
// there). nonce is the chain's: the first record's, even if it fails its
// check.
func (cr *chainReader) readRecords() (*chainScan, uint64, error) {
	c := &chainScan{}
	var nonce uint64
	haveNonce := false
	off := int64(0)
	for {
		ok, err := cr.header(off)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			break
		}
		if !cr.ours() {
			break
		}
		seq, n := binary.BigEndian.Uint32(cr.hdr[28:]), binary.BigEndian.Uint64(cr.hdr[12:])
		if len(c.records) == 0 && !haveNonce {
			nonce, haveNonce = n, true // the first record's, even if it fails its check
		}
		if seq != uint32(len(c.records)+1) || n != nonce {
			c.endBad = n == nonce // a damaged sequence number; another nonce is an older chain
			break
		}
		ops, ok := cr.body(off)
		if !ok {
			c.endBad, c.endRaw = true, ops
			break
		}
		c.records = append(c.records, ops)
		off += blocks(journalHdrSize + len(ops))
	}
	c.end = off
	return c, nonce, nil
}

// mayHideRecords reports, when no record of the chain checked, whether a
// damaged first record may hide records of the chain past it (look is
// false when the search past the end is to be skipped).
//
// Which records past the end belong to this chain: those of its nonce
// once its first record checked. Without one, the first record itself
// may be damaged (its nonce too): any nonce, unless the first block
// is zeros, as Open leaves it before the first record of a chain (a
// first record torn before its header reached the disk has nothing
// after it either), or holds a record that checks but names another
// database or another state. Every chain starts at the first block,
// so that record was written after whatever lies behind it: a chain
// of this state there is one the file moved on from (it was committed,
// and then a backup of this state was restored, or the file was
// compacted to this very txid), not acknowledged writes that a damaged
// first record hides. The checksum covers the database id and the
// base txid: a first record of this chain damaged there does not
// check, and is looked past. Records of an older chain with this very
// txid behind a first block that does not check are still taken for
// this one's (a backup copied over the database with the journal left
// beside it, whose newer chain's first record a crash had torn; Open
// clears the records of older chains when it starts the journal, so
// not after it has run on the restored file): Open refuses and the
// salvage lists them, rather than lose acknowledged ones silently; the
// error says to move the journal aside after a restore.
func (cr *chainReader) mayHideRecords() (look bool, err error) {
	ok, err := cr.header(0)
	if err != nil {
		return false, err
	}
	if !ok || allZero(cr.hdr) {
		return false, nil
	}
	if _, good := cr.body(0); good && (binary.BigEndian.Uint64(cr.hdr[4:]) != cr.id || binary.BigEndian.Uint64(cr.hdr[20:]) != cr.txid) {
		return false, nil
	}
	return true, nil
}

// findLater adds to c.later every block past c.end that starts a checked
// record of this chain: of its nonce, unless anyNonce, and with a
// sequence number past the record at c.end's.
func (cr *chainReader) findLater(c *chainScan, nonce uint64, anyNonce bool) error {
	for b := c.end + journalBlock; ; b += journalBlock {
		ok, err := cr.header(b)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if !cr.ours() || (!anyNonce && binary.BigEndian.Uint64(cr.hdr[12:]) != nonce) ||
			binary.BigEndian.Uint32(cr.hdr[28:]) <= uint32(len(c.records)+1) {
			continue
		}
		if ops, ok := cr.body(b); ok {
			c.later = append(c.later, journalRecord{seq: binary.BigEndian.Uint32(cr.hdr[28:]), off: b, ops: ops})
			b += blocks(journalHdrSize+len(ops)) - journalBlock
		}
	}
	return nil
}

// markDamaged marks the record at c.end damaged, as records of its chain
// follow it, and keeps its body, unchecked, when it has not yet.
func (cr *chainReader) markDamaged(c *chainScan) {
	c.endBad = true
	if c.endRaw == nil { // a damaged header: what its body names, as far as it reads
		if ok, err := cr.header(c.end); err == nil && ok {
			c.endRaw, _ = cr.body(c.end)
		}
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
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
