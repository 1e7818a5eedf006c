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

// openValue is a sale's value in the index of unfinished sales: its
// CreatedAt (8 bytes), then its State. Walks over the unfinished sales
// (reconciliation, "is a sale waiting for a scan?") read the index alone.
func openValue(s *Sale) []byte {
	v := make([]byte, 0, 8+len(s.State))
	v = binary.BigEndian.AppendUint64(v, timeKey(s.CreatedAt))
	return append(v, s.State...)
}

// decodeOpenValue is the inverse of openValue.
func decodeOpenValue(ref, v []byte) (OpenSale, bool) {
	if len(v) < 8 {
		return OpenSale{}, false
	}
	o := OpenSale{Reference: string(ref), State: string(v[8:])}
	if n := binary.BigEndian.Uint64(v); n != 0 {
		o.CreatedAt = time.Unix(0, int64(n))
	}
	return o, true
}

// dueValue is a command's value in the index by NextAttempt: what the
// outbox decides on before it sends (kind, reference, deadline, whether it
// may have been sent), so that choosing what to send decodes no command.
//
//	flags (1) | NotAfter (8) | len(Kind) (1) | Kind | Reference
func dueValue(c *Command) []byte {
	v := make([]byte, 0, 10+len(c.Kind)+len(c.Reference))
	var flags byte
	if c.MaybeSent {
		flags |= 1
	}
	v = append(v, flags)
	v = binary.BigEndian.AppendUint64(v, timeKey(c.NotAfter))
	v = append(v, byte(len(c.Kind)))
	v = append(v, c.Kind...)
	return append(v, c.Reference...)
}

// decodeDueValue is the inverse of dueValue.
func decodeDueValue(k, v []byte) (DueCommand, bool) {
	if len(k) != 16 || len(v) < 10 || len(v) < 10+int(v[9]) {
		return DueCommand{}, false
	}
	d := DueCommand{ID: keyU64(k), MaybeSent: v[0]&1 != 0}
	if n := binary.BigEndian.Uint64(k[:8]); n != 0 {
		d.NextAttempt = time.Unix(0, int64(n))
	}
	if n := binary.BigEndian.Uint64(v[1:9]); n != 0 {
		d.NotAfter = time.Unix(0, int64(n))
	}
	kl := int(v[9])
	d.Kind = string(v[10 : 10+kl])
	d.Reference = string(v[10+kl:])
	return d, d.Kind != "" && d.Reference != ""
}
