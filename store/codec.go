package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
)

// Keys are built so that bbolt's byte order is the order we need: integers
// are big-endian, times are big-endian Unix nanoseconds, and a reference in a
// composite key is followed by a NUL byte (references never contain one).

// maxRefLen bounds references, which are bbolt keys. Vipps MobilePay allows
// 8–64 characters; the store only protects its keys.
const maxRefLen = 255

func u64Key(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}

func keyU64(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(k)-8:])
}

// timeKey encodes t for ordering; the zero time (and any time before 1970)
// sorts first.
func timeKey(t time.Time) uint64 {
	if t.IsZero() || t.Unix() < 0 {
		return 0
	}
	return uint64(t.UnixNano())
}

// timeRefKey is an index key ordered by time, then reference.
func timeRefKey(t time.Time, ref string) []byte {
	k := make([]byte, 0, 8+len(ref))
	k = binary.BigEndian.AppendUint64(k, timeKey(t))
	return append(k, ref...)
}

// timeIDKey is an index key ordered by time, then id.
func timeIDKey(t time.Time, id uint64) []byte {
	k := make([]byte, 0, 16)
	k = binary.BigEndian.AppendUint64(k, timeKey(t))
	return binary.BigEndian.AppendUint64(k, id)
}

// refIDKey is an index key ordered by reference, then id.
func refIDKey(ref string, id uint64) []byte {
	k := make([]byte, 0, len(ref)+9)
	k = append(k, ref...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, id)
}

// refPrefix is the prefix of every refIDKey of ref.
func refPrefix(ref string) []byte {
	return append([]byte(ref), 0)
}

func checkRef(ref string) error {
	switch {
	case ref == "":
		return fmt.Errorf("empty reference: %w", ErrInvalid)
	case len(ref) > maxRefLen:
		return fmt.Errorf("reference longer than %d bytes: %w", maxRefLen, ErrInvalid)
	case bytes.IndexByte([]byte(ref), 0) >= 0:
		return fmt.Errorf("reference %q contains a NUL byte: %w", ref, ErrInvalid)
	}
	return nil
}
