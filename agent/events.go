package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/tillbox/tillbox/store"
)

// Event is one entry of the log the POS reads: a sale's state changed. Seq
// numbers have no gaps; a POS that stores the last Seq it handled and asks
// for the events after it sees every result exactly once, across its own
// restarts and the box's.
type Event struct {
	Seq       uint64    `json:"seq"`
	Reference string    `json:"reference"`
	State     State     `json:"state"`
	Sale      Sale      `json:"sale"`
	At        time.Time `json:"at"`
	// RemoteRefund is set on an event of a refund this box asked for a
	// sale of another till (remoterefund.go); Sale is then that sale.
	RemoteRefund *RemoteRefund `json:"remoteRefund,omitempty"`
}

// ErrEventsPruned means the POS asked for events older than the log keeps.
var ErrEventsPruned = fmt.Errorf("events before the oldest kept one were pruned")

// ErrEventsAhead means the POS asked for the events after a seq this log
// never reached: its position comes from another database (a backup
// restored on the box, or another box). Waiting would hide the sales
// whose events reuse the seqs it thinks it has seen.
var ErrEventsAhead = fmt.Errorf("the position is past the newest event of this box")

// Events returns up to limit events after seq, waiting up to wait for the
// first one when there is none yet (long poll).
func (a *Agent) Events(ctx context.Context, after uint64, limit int, wait time.Duration) ([]Event, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		changed := a.events.wait() // before reading, so no commit is missed
		var evs []store.Event
		var first, last uint64
		err := a.db.View(func(tx *store.Tx) error {
			var err error
			first, last = tx.FirstSeq(), tx.LastSeq()
			evs, err = tx.EventsAfter(after, limit)
			return err
		})
		if err != nil {
			return nil, err
		}
		if after > last {
			return nil, fmt.Errorf("%w: asked for the events after %d, the newest is %d", ErrEventsAhead, after, last)
		}
		if after+1 < first && first > 1 {
			return nil, fmt.Errorf("%w: oldest kept is %d, asked for after %d", ErrEventsPruned, first, after)
		}
		if len(evs) > 0 || wait <= 0 {
			out := make([]Event, 0, len(evs))
			for _, e := range evs {
				ev := Event{Seq: e.Seq, Reference: e.Reference, State: State(e.State), At: e.At}
				if err := json.Unmarshal(e.Data, &ev.Sale); err != nil {
					if len(out) > 0 {
						return out, nil // those before it; the next call starts at it
					}
					rec := fmt.Sprintf("event %d", e.Seq)
					return nil, &store.CorruptError{Path: a.db.Path(), Reason: rec + "'s sale does not decode", Err: err, Record: rec, Seq: e.Seq}
				}
				if e.Kind == KindRemoteRefund {
					ev.RemoteRefund = remoteRefundOf(e.Data)
				}
				out = append(out, ev)
			}
			return out, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return []Event{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// notifier wakes every waiter when an event is committed.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

// wait returns a channel closed at the next notify.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}
