package fleet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// Shipping the event log. Each event goes to the till's journal subject
// as stored (the JSON of a store.Event), with the de-duplication id
// <till>:<seq> and the expected last sequence of the subject: a replay
// within the stream's de-duplication window comes back as a duplicate,
// one after it is refused (10071), so nothing is stored twice however
// the box or the link was cut. On each (re)connect and after a refusal,
// the link reads the last message of its subject and resumes after it.

// readBatch is how many events one read of the store takes.
const readBatch = 100

// errResync: headquarters refused an append (wrong last sequence): read
// its last message again and resume from it.
var errResync = errors.New("headquarters holds another last event than expected")

// ErrAhead means headquarters holds more of this till's log than the box
// has: the box's database is an older copy (a backup restored) or another
// box uses the same till id. The link ships nothing until that is sorted.
var ErrAhead = errors.New("headquarters holds events this box does not have")

// position is where shipping resumes: the next event's seq, and the stream
// sequence of the last message on the subject (0: none).
type position struct {
	next      uint64
	streamSeq uint64
}

// shipLoop ships the log for as long as ctx lasts, resuming after each
// reconnect and error.
func (l *Link) shipLoop(ctx context.Context, nc *nats.Conn) {
	for fails := 0; ; {
		epoch, ok := l.waitConnected(ctx)
		if !ok {
			return
		}
		err := l.ship(ctx, nc, epoch)
		l.mark.flush(l)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil: // the connection changed: resume on the next one
			fails = 0
			continue
		case errors.Is(err, errResync) && fails < 3:
			fails++ // read again at once; a replica may lag, so not forever
			continue
		}
		l.noteErr("journal", err)
		fails++
		if !sleep(ctx, backoff(l.o.RetryMin, l.o.RetryMax, fails)) {
			return
		}
	}
}

// ship resumes after what headquarters holds and publishes every event
// after it, then each new one, until the connection of epoch changes
// (nil) or something fails.
func (l *Link) ship(ctx context.Context, nc *nats.Conn, epoch uint64) error {
	pos, err := l.resume(ctx, nc)
	if err != nil {
		return err
	}
	idle := time.NewTimer(l.o.MaxIdle)
	defer idle.Stop()
	for {
		var changed <-chan struct{}
		if l.o.Changed != nil {
			changed = l.o.Changed() // before reading: no commit is missed
		}
		stateChanged := l.state.wait()
		if !l.still(epoch) {
			return nil
		}
		var evs []store.RawEvent
		if err := l.db.View(func(tx *store.Tx) error {
			var err error
			evs, err = tx.RawEventsAfter(pos.next-1, readBatch)
			return err
		}); err != nil {
			return err
		}
		if len(evs) > 0 && evs[0].Seq != pos.next {
			// Pruned meanwhile: only events headquarters already has can
			// be, with the store opened with HoldUnshipped.
			return fmt.Errorf("event %d is no longer in the store (the oldest kept is %d)", pos.next, evs[0].Seq)
		}
		for _, ev := range evs {
			if err := l.publish(ctx, nc, ev, &pos); err != nil {
				return err
			}
		}
		if len(evs) > 0 {
			continue
		}
		l.mark.flush(l)
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(l.o.MaxIdle)
		select {
		case <-changed:
		case <-stateChanged:
		case <-idle.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// publish sends one event and waits for headquarters' acknowledgement.
func (l *Link) publish(ctx context.Context, nc *nats.Conn, ev store.RawEvent, pos *position) error {
	t := l.o.Till
	msg := nats.NewMsg(t.JournalSubject())
	msg.Data = ev.JSON
	msg.Header.Set(wire.HeaderSeq, strconv.FormatUint(ev.Seq, 10))
	ack, err := publishEvent(ctx, nc, msg, t.MsgID(ev.Seq), pos.streamSeq, l.o.Timeout)
	if err != nil {
		var apiErr *apiError
		if errors.As(err, &apiErr) && apiErr.ErrCode == wire.ErrWrongLastSequence {
			return fmt.Errorf("event %d: %w (%s)", ev.Seq, errResync, apiErr.Description)
		}
		return fmt.Errorf("publishing event %d: %w", ev.Seq, err)
	}
	pos.next, pos.streamSeq = ev.Seq+1, ack.Seq
	l.mu.Lock()
	l.shipped = ev.Seq
	l.published++
	l.mu.Unlock()
	l.mark.acked(l, ev.Seq)
	return nil
}

// resume reads the last message of the till's journal subject and returns
// the position after it. It sets the shipped mark to what headquarters
// holds, and starts at the oldest event kept when the ones after it were
// pruned before they could be shipped.
func (l *Link) resume(ctx context.Context, nc *nats.Conn) (position, error) {
	atHQ, streamSeq, err := lastAtHQ(ctx, nc, l.o.Till, l.o.Timeout)
	if err != nil {
		return position{}, err
	}
	var first, last, mark uint64
	if err := l.db.View(func(tx *store.Tx) error {
		first, last, mark = tx.FirstSeq(), tx.LastSeq(), tx.Shipped()
		return nil
	}); err != nil {
		return position{}, err
	}
	l.mu.Lock()
	l.atHQ, l.ahead = atHQ, atHQ > last
	l.mu.Unlock()
	if atHQ > last {
		return position{}, fmt.Errorf("%w: headquarters holds events up to %d of %s, the box's log ends at %d: a database restored from an older copy, or another box with this till id; nothing is shipped until that is sorted out",
			ErrAhead, atHQ, l.o.Till, last)
	}
	if mark > atHQ {
		l.log.Warn("headquarters holds less of the log than it acknowledged (its stream was reset?): shipping again from there", "acknowledged", mark, "holds", atHQ)
	}
	l.mark.reset(l, atHQ)
	pos := position{next: atHQ + 1, streamSeq: streamSeq}
	if pos.next < first {
		l.mu.Lock()
		l.gapFrom, l.gapTo = pos.next, first-1
		l.mu.Unlock()
		l.gapOnce.Do(func() {
			l.log.Warn("events were pruned before they could be shipped: headquarters will not have them", "from", pos.next, "to", first-1)
		})
		pos.next = first
	}
	return pos, nil
}

// lastAtHQ reads the last message of t's journal subject (a direct get,
// which the box's permissions allow): the event seq it carries and its
// stream sequence; zeros when the subject holds none.
func lastAtHQ(ctx context.Context, nc *nats.Conn, t wire.Till, timeout time.Duration) (seq, streamSeq uint64, err error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := nc.RequestWithContext(rctx, t.JournalLastSubject(), nil)
	if errors.Is(err, nats.ErrNoResponders) {
		return 0, 0, fmt.Errorf("reading the last event at headquarters: the stream %s does not answer (not created yet, or without allow_direct)", wire.JournalStream)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("reading the last event at headquarters: %w", err)
	}
	if status := resp.Header.Get("Status"); status != "" {
		if status == "404" {
			return 0, 0, nil
		}
		return 0, 0, fmt.Errorf("reading the last event at headquarters: %s %s", status, resp.Header.Get("Description"))
	}
	streamSeq, err = strconv.ParseUint(resp.Header.Get(wire.HeaderStreamSeq), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the last event at headquarters: no stream sequence in the answer")
	}
	seq, err = strconv.ParseUint(resp.Header.Get(wire.HeaderSeq), 10, 64)
	if err != nil || seq == 0 {
		return 0, 0, fmt.Errorf("reading the last event at headquarters: message %d of %s has no %s header", streamSeq, t.JournalSubject(), wire.HeaderSeq)
	}
	return seq, streamSeq, nil
}

// marks batches the writes of the shipped mark: one per MarkEvery
// acknowledgements or MarkAfter after the first one not written, and when
// the link waits or stops. The mark may lag what headquarters holds,
// never lead it.
type marks struct {
	mu      sync.Mutex
	written uint64 // in the store
	pending uint64 // acknowledged, not written yet
	count   int    // acknowledgements since the last write; 0: nothing pending
	first   time.Time
}

// acked notes that headquarters acknowledged seq.
func (m *marks) acked(l *Link, seq uint64) {
	m.mu.Lock()
	if m.count == 0 {
		m.first = time.Now()
	}
	m.pending = seq
	m.count++
	due := m.count >= l.o.MarkEvery || time.Since(m.first) >= l.o.MarkAfter
	m.mu.Unlock()
	if due {
		m.flush(l)
	}
}

// reset sets the mark to what headquarters holds, up or down, at once.
func (m *marks) reset(l *Link, seq uint64) {
	m.mu.Lock()
	m.pending, m.count = seq, 1
	if m.written == seq {
		m.pending, m.count = 0, 0
	}
	m.mu.Unlock()
	l.mu.Lock()
	l.shipped = seq
	l.mu.Unlock()
	m.flush(l)
}

// flush writes the pending mark.
func (m *marks) flush(l *Link) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.count == 0 {
		return
	}
	seq := m.pending
	if err := l.db.Update(func(tx *store.Tx) error { return tx.SetShipped(seq) }); err != nil {
		l.noteErr("writing the shipped mark", err)
		return
	}
	m.written, m.pending, m.count = seq, 0, 0
}
