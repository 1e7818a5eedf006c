package store

import (
	"encoding/binary"
	"fmt"
)

// NextCounter increments the durable counter name and returns its new value
// (1 the first time): for references made of a till id and a number, say.
// Like everything in a transaction, the increment is kept only if the
// transaction commits.
func (tx *Tx) NextCounter(name string) (uint64, error) {
	if name == "" {
		return 0, fmt.Errorf("store: counter: empty name: %w", ErrInvalid)
	}
	counters, err := tx.bucket(bucketCounters)
	if err != nil {
		return 0, err
	}
	var n uint64
	if v := counters.Get([]byte(name)); v != nil {
		if len(v) != 8 {
			return 0, &CorruptError{Path: tx.path, Reason: fmt.Sprintf("counter %q is %x", name, v)}
		}
		n = binary.BigEndian.Uint64(v)
	}
	n++
	if err := counters.Put([]byte(name), u64Key(n)); err != nil {
		return 0, fmt.Errorf("store: counter %q: %w", name, err)
	}
	return n, nil
}
