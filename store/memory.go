package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// bbolt reads the file through a read-only shared mapping of all of it.
// Every page read through the mapping counts in the process's RSS until it
// is unmapped, which bbolt does only when the file grows: draining a backlog
// of 100 000 commands reads through the whole outbox, and the RSS would end
// up the size of the file (150 MB for 100 000 commands of 1 KB). So, after
// every releaseEvery transactions or releaseInterval, whichever comes first,
// the store tells the kernel it no longer needs the mapped pages. They stay
// in the page cache; the next read maps them again at the cost of a minor
// fault. A release costs some 20 µs; RSS then follows the working set, not
// the file.
const (
	releaseEvery    = 1024
	releaseInterval = time.Second
)

// maybeReleaseMapping releases the mapped pages when it is time to.
func (db *DB) maybeReleaseMapping() {
	n := db.sinceRelease.Add(1)
	now := time.Now().UnixNano()
	last := db.lastRelease.Load()
	if n < releaseEvery && now-last < int64(releaseInterval) {
		return
	}
	if !db.lastRelease.CompareAndSwap(last, now) {
		return // another goroutine is releasing
	}
	db.sinceRelease.Store(0)
	db.releaseMapping()
}

// walkRelease is how many records a long walk (EachOpen, EachUnfinished)
// reads between releases of the mapped pages: the kernel maps the pages
// around each one read (fault-around), so a walk over one index would
// otherwise map much of the file.
const walkRelease = 1024

// release releases the mapped pages from inside a transaction, which keeps
// bbolt from remapping meanwhile (a read transaction holds off remapping; a
// write transaction remaps only in its own commit).
func (tx *Tx) release() {
	_ = releasePages(tx.btx.DB().Info().Data, tx.btx.Size())
}

// releaseMapping releases the mapped pages now. It runs inside a read
// transaction, which keeps bbolt from remapping meanwhile.
func (db *DB) releaseMapping() {
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		return releasePages(db.bolt.Info().Data, tx.Size())
	})
}
