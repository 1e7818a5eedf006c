package store

import "time"

// maxBatch bounds the calls committed together by Batch.
const maxBatch = 256

// batchLinger is how long the committer waits for company when the last
// batch had some (a backlog is draining): a lone call never waits.
const batchLinger = 500 * time.Microsecond

// batchCall is one Batch call waiting for its commit.
type batchCall struct {
	fn  func(*Tx) error
	err chan error
}

// Batch runs fn in a read-write transaction like [DB.Update], but commits
// it together with the functions of other goroutines' Batch calls that
// arrive while a commit is under way: one durable commit for many, so that a
// backlog drains at the pace of the network rather than of fsync. A Batch
// call alone commits at once, as Update would. Batch returns nil once fn's
// changes are durable, or fn's error with nothing of fn kept.
//
// fn may run more than once: when another function of its batch fails, the
// transaction is rolled back, the failing function is run alone and the
// others are run again without it. So fn must change nothing outside the
// transaction but through [Tx.OnCommit], and must set every variable it
// reports through on every run. Do not call Update, View or Batch from fn.
func (db *DB) Batch(fn func(*Tx) error) error {
	c := &batchCall{fn: fn, err: make(chan error, 1)}
	db.batchMu.RLock()
	if db.batchClosed {
		db.batchMu.RUnlock()
		return db.Update(fn) // reports the closed database
	}
	db.batchCh <- c
	db.batchMu.RUnlock()
	return <-c.err
}

// committer commits the Batch calls, all that have arrived at once, until
// Close.
func (db *DB) committer() {
	defer close(db.batchDone)
	busy := false // the last batch had company: more calls are likely on their way
	for c := range db.batchCh {
		calls := []*batchCall{c}
		var linger <-chan time.Time
		if busy {
			linger = time.After(batchLinger)
		}
		for gathering := true; gathering && len(calls) < maxBatch; {
			if linger == nil {
				select {
				case c, ok := <-db.batchCh:
					if gathering = ok; ok {
						calls = append(calls, c)
					}
				default:
					gathering = false
				}
				continue
			}
			select {
			case c, ok := <-db.batchCh:
				if gathering = ok; ok {
					calls = append(calls, c)
				}
			case <-linger:
				gathering = false
			}
		}
		busy = len(calls) > 1
		db.runBatch(calls)
	}
}

// runBatch commits calls in one transaction; a failing call is taken out
// and run alone, and the others are tried again.
func (db *DB) runBatch(calls []*batchCall) {
	for len(calls) > 0 {
		failed := -1
		err := db.Update(func(tx *Tx) error {
			for i, c := range calls {
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range calls {
				c.err <- err
			}
			return
		}
		solo := calls[failed]
		solo.err <- db.Update(solo.fn)
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}

// closeBatches stops the committer once the calls already queued are
// committed; later Batch calls run as Update.
func (db *DB) closeBatches() {
	db.batchMu.Lock()
	if !db.batchClosed {
		db.batchClosed = true
		close(db.batchCh)
	}
	db.batchMu.Unlock()
	<-db.batchDone
}
