package store

// Reading a journal file: the chain of records Open replays, and the checked
// records past its end that a damaged record would hide (journal.go).

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

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
