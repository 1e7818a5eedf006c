package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// preflight checks the bbolt file header by reading it, before bbolt maps
// the file. bbolt trusts its meta page: a truncated file or a meta page that
// points past the end makes it fault on the mapping (SIGBUS, which kills the
// process) or allocate whatever a garbage freelist header claims. These are
// the corruptions a power cut, a full disk or an interrupted copy produce, so
// they are caught here, with a message, instead.
//
// The layout read here is bbolt's data file format version 2 (unchanged since
// bbolt forked from boltdb), in the machine's byte order, like bbolt itself.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	metaChecksumAt   = 56 // the checksum covers the meta bytes before it
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	pgidNoFreelist   = ^uint64(0)
)

// boltMeta is the part of a bbolt meta page preflight needs.
type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// parseMeta decodes and validates one meta page (header included).
func parseMeta(page []byte) (boltMeta, bool) {
	if len(page) < pageHeaderSize+metaChecksumAt+8 {
		return boltMeta{}, false
	}
	ne := binary.NativeEndian
	if ne.Uint16(page[8:])&metaPageFlag == 0 {
		return boltMeta{}, false
	}
	m := page[pageHeaderSize:]
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksumAt])
	if h.Sum64() != ne.Uint64(m[metaChecksumAt:]) {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		pgid:     ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}, true
}

// preflight returns nil when the file's newest valid meta page is consistent
// with the file's size, and a reason otherwise.
func preflight(f *os.File) (reason string, err error) {
	var first [pageHeaderSize + metaChecksumAt + 8]byte
	if _, err := f.ReadAt(first[:], 0); err != nil && err != io.EOF {
		return "", err
	}
	// bbolt looks for the second meta page at every plausible page size when
	// the first is unreadable; so does preflight.
	var metas []boltMeta
	if m, ok := parseMeta(first[:]); ok {
		metas = append(metas, m)
	}
	for ps := int64(1024); ps <= 1<<16; ps *= 2 {
		if len(metas) > 0 && int64(metas[0].pageSize) != ps {
			continue
		}
		var buf [pageHeaderSize + metaChecksumAt + 8]byte
		if _, err := f.ReadAt(buf[:], ps); err != nil {
			if err == io.EOF {
				break
			}
			return "", err
		}
		if m, ok := parseMeta(buf[:]); ok && int64(m.pageSize) == ps {
			metas = append(metas, m)
			break
		}
	}
	if len(metas) == 0 {
		return "neither meta page is valid (not a bbolt file, or its header was overwritten)", nil
	}
	m := metas[0]
	if len(metas) == 2 && metas[1].txid > m.txid {
		m = metas[1]
	}

	// Stat after reading the meta: a file only grows before its meta is
	// written, so a concurrent writer cannot make a sound file look short.
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	ps := uint64(m.pageSize)
	switch {
	case ps < 1024 || ps > 1<<16 || ps&(ps-1) != 0:
		return fmt.Sprintf("meta page has an impossible page size %d", ps), nil
	case m.pgid < 4 || m.pgid > uint64(fi.Size())/ps:
		return fmt.Sprintf("file is truncated: %d bytes, but its meta page counts %d pages of %d bytes (%d bytes)",
			fi.Size(), m.pgid, ps, m.pgid*ps), nil
	case m.root < 2 || m.root >= m.pgid:
		return fmt.Sprintf("meta page points its root at page %d, outside the file's %d pages", m.root, m.pgid), nil
	case m.freelist == pgidNoFreelist:
		return "", nil
	case m.freelist < 2 || m.freelist >= m.pgid:
		return fmt.Sprintf("meta page points its freelist at page %d, outside the file's %d pages", m.freelist, m.pgid), nil
	}

	// The freelist page: bbolt reads every id it lists at open.
	var hdr [pageHeaderSize + 8]byte
	if _, err := f.ReadAt(hdr[:], int64(m.freelist*ps)); err != nil {
		return "", err
	}
	ne := binary.NativeEndian
	flags, count, overflow := ne.Uint16(hdr[8:]), uint64(ne.Uint16(hdr[10:])), uint64(ne.Uint32(hdr[12:]))
	if ne.Uint64(hdr[0:]) != m.freelist || flags != freelistPageFlag {
		return fmt.Sprintf("freelist page %d is not a freelist page", m.freelist), nil
	}
	if count == 0xFFFF {
		count = ne.Uint64(hdr[pageHeaderSize:]) + 1 // the count itself takes one slot
	}
	switch {
	case m.freelist+overflow+1 > m.pgid:
		return fmt.Sprintf("freelist page %d overflows past the end of the file", m.freelist), nil
	case count > ((overflow+1)*ps-pageHeaderSize)/8:
		return fmt.Sprintf("freelist page %d claims %d entries, more than it can hold", m.freelist, count), nil
	}
	return "", nil
}
