package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/tillbox/tillbox/store/atomicfile"
)

// A damaged journal (see [JournalError]) is salvaged into a copy of the
// database, never in place: the original database and journal stay as they
// are, for a second try or a closer look.
//
// What the copy gets is the chain's records up to the first damaged one,
// replayed in order: exactly the state the box was in when the last of
// them was acknowledged. The checked records after the damaged one are
// NOT replayed, only reported with what they name. Each was one whole
// transaction of the sale state machine, computed on the state that
// included the damaged record before it: the record counts, the event
// sequence, the outbox's command ids and the sale's own state all carry
// on from it. Replaying them without it would make a database that no
// moment of the box ever saw (a gap in the event sequence the POS reads,
// counts that disagree with the records, a command for a sale that is not
// there), which the outbox and the POS would then act on. A sale reported
// as lost is one whose payment is to be checked at Vipps MobilePay by its
// reference (the portal, or GET /epayment/v1/payments/REF) and entered
// again at the till if need be.

// RecordSummary is what one journal record names.
type RecordSummary struct {
	Seq      uint32   // its place in the chain, from 1
	Offset   int64    // byte offset in the journal
	Damaged  bool     // fails its check: what it names is as far as it reads
	Sales    []string // references of the sales it writes
	Events   []uint64 // sequence numbers of the events it writes
	Commands []uint64 // ids of the outbox commands it writes
}

// SalvageReport is what [SalvageJournal] did.
type SalvageReport struct {
	DB, Journal, Out string
	Kept             []RecordSummary // replayed into Out, in order
	Lost             []RecordSummary // not replayed: damaged, or after a damaged record
	Stats            Stats           // of Out, which was checked with Verify
}

// SalvageJournal writes to out a copy of the database at path with the
// records of its journal that can be replayed safely (see above), checks
// the copy page by page, and reports every record it kept and each it did
// not. out defaults to path + ".repaired"; it is written atomically. The
// database and its journal are only read; a running tillbox holding the
// database makes it fail with a [*LockedError].
func SalvageJournal(path, out string, opts Options) (*SalvageReport, error) {
	opts = opts.withDefaults()
	jpath := path + JournalSuffix
	if out == "" {
		out = path + ".repaired"
	}
	if abs(out) == abs(path) || abs(out) == abs(jpath) {
		return nil, fmt.Errorf("store: salvage: %s would overwrite the original: %w", out, ErrInvalid)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: salvage: %w", err)
	}
	bdb, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: opts.Timeout})
	if err != nil {
		return nil, err
	}
	defer bdb.Close()
	id, err := journalID(bdb)
	if err != nil {
		return nil, &CorruptError{Path: path, Reason: "its journal id does not read", Err: err}
	}
	if id == 0 {
		return nil, fmt.Errorf("store: salvage: %s has no journal id (an old schema): there is no journal to salvage", path)
	}
	jf, err := os.Open(jpath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: salvage: there is no journal at %s: the database needs no salvage", jpath)
	} else if err != nil {
		return nil, fmt.Errorf("store: salvage: %w", err)
	}
	defer jf.Close()

	rep := &SalvageReport{DB: path, Journal: jpath, Out: out}
	f, err := atomicfile.Create(out, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: salvage: %w", err)
	}
	defer f.Cleanup() // after a failure; a no-op after Commit
	tmp := f.Name()
	var scan *chainScan
	err = bdb.View(func(btx *bolt.Tx) error {
		if scan, err = readChain(jf, id, uint64(btx.ID())); err != nil {
			return fmt.Errorf("read journal %s: %w", jpath, err)
		}
		_, err := btx.WriteTo(f)
		return err
	})
	if cerr := f.Close(); err == nil { // fsynced
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("store: salvage: %w", err)
	}
	rep.Kept, rep.Lost = summarize(scan)

	cdb, err := openBolt(tmp, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return nil, err
	}
	err = cdb.Update(func(btx *bolt.Tx) error {
		for i, ops := range scan.records {
			if err := replay(btx, ops); err != nil {
				return fmt.Errorf("record %d does not apply: %w", i+1, err)
			}
		}
		return nil
	})
	if cerr := cdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("store: salvage: %w", err)
	}

	vdb, err := Open(tmp, Options{NoJournal: true, CompactMinFree: -1, Timeout: opts.Timeout})
	if err != nil {
		return nil, fmt.Errorf("store: salvage: the repaired copy does not open: %w", err)
	}
	err = vdb.Verify()
	if err == nil {
		rep.Stats, err = vdb.Stats()
	}
	if cerr := vdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("store: salvage: the repaired copy does not check (the database itself may be damaged too: restore a backup): %w", err)
	}
	if err := f.Commit(); err != nil {
		return nil, fmt.Errorf("store: salvage: %w", err)
	}
	rep.Stats.FileSize = fileSize(out, rep.Stats.FileSize)
	return rep, nil
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return filepath.Clean(a)
	}
	return filepath.Clean(p)
}

func fileSize(path string, def int64) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return def
}

// summarize splits a chain into the records replayed and those not.
func summarize(c *chainScan) (kept, lost []RecordSummary) {
	off := int64(0)
	for i, ops := range c.records {
		kept = append(kept, summary(uint32(i+1), off, ops, false))
		off += blocks(journalHdrSize + len(ops))
	}
	if !c.damaged() {
		return kept, nil
	}
	next := uint32(len(c.records) + 1)
	lost = append(lost, summary(next, c.end, c.endRaw, true))
	next++
	for _, r := range c.later {
		for ; next < r.seq; next++ {
			lost = append(lost, RecordSummary{Seq: next, Offset: -1, Damaged: true})
		}
		lost = append(lost, summary(r.seq, r.off, r.ops, false))
		next = r.seq + 1
	}
	return kept, lost
}

// summary lists what the record's writes name, as far as ops reads.
func summary(seq uint32, off int64, ops []byte, damaged bool) RecordSummary {
	s := RecordSummary{Seq: seq, Offset: off, Damaged: damaged}
	seen := map[string]bool{}
	for len(ops) >= 2 && len(ops) >= 2+int(ops[1]) {
		op, name := ops[0], string(ops[2:2+int(ops[1])])
		ops = ops[2+len(name):]
		next := func() ([]byte, bool) {
			n, w := binary.Uvarint(ops)
			if w <= 0 || uint64(len(ops)-w) < n {
				return nil, false
			}
			v := ops[w : w+int(n)]
			ops = ops[w+int(n):]
			return v, true
		}
		var k []byte
		switch op {
		case opPut:
			var ok bool
			if k, ok = next(); !ok {
				return s
			}
			if _, ok = next(); !ok {
				return s
			}
		case opDelete:
			var ok bool
			if k, ok = next(); !ok {
				return s
			}
		case opSetSequence:
			if len(ops) < 8 {
				return s
			}
			ops = ops[8:]
			continue
		default:
			return s
		}
		if op != opPut {
			continue
		}
		switch name {
		case bucketSales:
			if !seen[string(k)] {
				seen[string(k)] = true
				s.Sales = append(s.Sales, string(k))
			}
		case bucketEvents:
			if len(k) == 8 {
				s.Events = append(s.Events, keyU64(k))
			}
		case bucketOutbox:
			if len(k) == 8 {
				s.Commands = append(s.Commands, keyU64(k))
			}
		}
	}
	return s
}

// journalError describes a damaged chain for Open's refusal.
func journalError(path string, c *chainScan) *JournalError {
	e := &JournalError{DB: path, Record: uint32(len(c.records) + 1), Offset: c.end, Valid: len(c.records)}
	_, lost := summarize(c)
	seen := map[string]bool{}
	for _, r := range lost {
		if r.Damaged && r.Seq != e.Record {
			e.Missing = append(e.Missing, r.Seq)
		}
		for _, ref := range r.Sales {
			if !seen[ref] {
				seen[ref] = true
				e.Sales = append(e.Sales, ref)
			}
		}
	}
	for _, r := range c.later {
		e.Later = append(e.Later, r.seq)
	}
	return e
}
