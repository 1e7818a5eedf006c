// Package ingest copies the boxes' journals and heartbeats from JetStream
// into PostgreSQL. Each is a durable pull consumer: a batch of messages is
// written in one transaction and acknowledged only after the commit, so a
// crash anywhere loses nothing and a redelivery stores nothing twice (the
// events' primary key is the till and its sequence).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqmetrics"
)

// The durable consumers headquarters reads with (shared by every
// headquarters process of the chain: each message goes to one of them).
const (
	JournalConsumer   = "hq_ingest"
	HeartbeatConsumer = "hq_heartbeat"
)

// Options are what a consumer loop needs.
type Options struct {
	JS      jetstream.JetStream
	DB      *hqdb.DB
	Metrics *hqmetrics.Metrics
	Log     *slog.Logger
	// Batch is the most messages written in one transaction (default 4000).
	Batch int
	// MaxWait is how long a fetch waits for its first message (default 1s).
	MaxWait time.Duration
	// AckWait is how long the servers wait for an ack before they
	// redeliver to another fetch (default 10s): after a crash, how long
	// the batch in flight waits. A write taking longer is abandoned.
	AckWait time.Duration
}

func (o *Options) defaults() {
	if o.Batch <= 0 {
		o.Batch = 4000
	}
	if o.MaxWait <= 0 {
		o.MaxWait = time.Second
	}
	if o.AckWait <= 0 {
		o.AckWait = 10 * time.Second
	}
}

// Journal consumes the journal stream into PostgreSQL until ctx ends. It
// outlives every failure of NATS or PostgreSQL: it waits and tries again.
func Journal(ctx context.Context, o Options) error {
	o.defaults()
	var wg sync.WaitGroup
	for range journalWriters {
		wg.Go(func() { _ = loop(ctx, o, wire.JournalStream, JournalConsumer, o.journalBatch) })
	}
	wg.Wait()
	return nil
}

// journalWriters is how many fetch-and-write loops share the journal's
// consumer, each with its own transaction: one writes while the other
// waits on PostgreSQL's commit or on the servers.
const journalWriters = 2

// Heartbeats consumes the heartbeat stream into the tills table until ctx
// ends.
func Heartbeats(ctx context.Context, o Options) error {
	o.defaults()
	return loop(ctx, o, wire.HeartbeatStream, HeartbeatConsumer, o.heartbeatBatch)
}

// loop fetches batches from the durable consumer and hands them to write,
// which acks or naks each message. After a failure it waits, with a
// growing back-off, then makes sure of the consumer again.
func loop(ctx context.Context, o Options, stream, durable string, write func(context.Context, []jetstream.Msg) error) error {
	log := o.Log.With("consumer", durable)
	var cons jetstream.Consumer
	failures := 0
	for ctx.Err() == nil {
		var err error
		if cons == nil {
			cons, err = o.JS.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
				Durable:       durable,
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       o.AckWait,
				MaxAckPending: 4 * journalWriters * o.Batch,
				DeliverPolicy: jetstream.DeliverAllPolicy,
			})
		}
		if err == nil {
			err = fetch(ctx, o, cons, write)
		}
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			break
		}
		cons = nil // it may have gone with a stream leader or been deleted
		failures++
		wait := backoff(failures)
		if failures == 1 || failures%20 == 0 {
			log.Warn("ingest: waiting to try again", "err", err, "failures", failures, "wait", wait)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

// fetch takes batches and writes them until a failure or ctx's end. It
// asks for the next batch before it writes the one it has (a fetch fills
// in the background), so the servers send batch N+1 while batch N goes to
// PostgreSQL; batch N is acked after its commit, as ever, and the
// consumer's MaxAckPending (4 batches a loop) lets both be out at once, with
// room to spare: a fetch never waits for the other loop's acks.
//
// A fetch that waits fills a whole batch or waits MaxWait: right for a
// trickle of events (one write a MaxWait), wrong for the end of a backlog
// (its last part would wait MaxWait for company). So after a whole batch
// the next fetch takes what is there at once (a backlog's end is written
// straight away), and after a part of one it waits again.
func fetch(ctx context.Context, o Options, cons jetstream.Consumer, write func(context.Context, []jetstream.Msg) error) error {
	next, err := cons.Fetch(o.Batch, jetstream.FetchMaxWait(o.MaxWait))
	if err != nil {
		return err
	}
	for {
		msgs, err := drain(next)
		switch {
		case err != nil || ctx.Err() != nil:
			next = nil
		case len(msgs) == o.Batch:
			next, err = cons.FetchNoWait(o.Batch)
		default:
			next, err = cons.Fetch(o.Batch, jetstream.FetchMaxWait(o.MaxWait))
		}
		if len(msgs) > 0 {
			// The batch taken is written even when ctx ends meanwhile (a
			// shutdown), within a bound of its own.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.AckWait)
			werr := write(wctx, msgs)
			cancel()
			if werr != nil {
				if next != nil {
					// Back at once to the servers, not after AckWait.
					taken, _ := drain(next)
					nakAll(taken)
				}
				return werr
			}
		}
		if err != nil || next == nil {
			return err
		}
	}
}

// drain is the messages of a fetch once it is done, and its error (none
// when it ended for want of messages).
func drain(batch jetstream.MessageBatch) ([]jetstream.Msg, error) {
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		return msgs, err
	}
	return msgs, nil
}

// journalBatch writes msgs in one transaction, then acks them. An
// unreadable message is terminated (it stays in the stream for a look);
// when the write fails every message is nak'd to come again. Of each
// sale only the newest event's snapshot is decoded: it is the one written.
func (o Options) journalBatch(ctx context.Context, msgs []jetstream.Msg) error {
	evs := make([]hqdb.Event, 0, len(msgs))
	taken := make([]jetstream.Msg, 0, len(msgs))
	for _, m := range msgs {
		ev, err := journalEvent(m)
		if err != nil {
			o.unreadable(m, err)
			continue
		}
		evs = append(evs, ev)
		taken = append(taken, m)
	}
	if bad := decodeNewest(evs, func(i int, err error) { o.unreadable(taken[i], err) }); len(bad) > 0 {
		evs, taken = without(evs, bad), without(taken, bad)
	}
	start := time.Now()
	res, err := o.DB.Ingest(ctx, evs)
	if err != nil {
		nakAll(taken)
		return err
	}
	o.Metrics.Batch(res.New, res.Duplicates, time.Since(start))
	for _, m := range taken {
		_ = m.Ack() // a lost ack is a redelivery, stored nothing twice
	}
	return nil
}

// decodeNewest decodes the newest event of each sale in evs. One that
// does not decode goes to unreadable (by its index in evs) and is left
// out: the one before it of its sale is then the newest, decoded in turn.
// It returns the indexes left out.
func decodeNewest(evs []hqdb.Event, unreadable func(i int, err error)) map[int]bool {
	bad := map[int]bool{}
	for {
		var left []hqdb.Event // evs less bad; at[j] is left[j]'s index in evs
		var at []int
		for i, e := range evs {
			if !bad[i] {
				left, at = append(left, e), append(at, i)
			}
		}
		more := false
		for _, j := range hqdb.NewestOfEachSale(left) {
			i := at[j]
			if err := evs[i].DecodeSale(); err != nil { // decoded already: nothing
				unreadable(i, err)
				bad[i], more = true, true
			}
		}
		if !more {
			return bad
		}
	}
}

// unreadable terminates m, which cannot be read.
func (o Options) unreadable(m jetstream.Msg, err error) {
	o.Log.Error("ingest: a journal message cannot be read; terminated, it stays in the stream",
		"subject", m.Subject(), "err", err)
	o.Metrics.Rejected(1)
	_ = m.Term()
}

// without is s less the elements at the indexes in drop.
func without[T any](s []T, drop map[int]bool) []T {
	out := s[:0:0]
	for i, v := range s {
		if !drop[i] {
			out = append(out, v)
		}
	}
	return out
}

// journalEvent reads a journal message: the till from its subject, the
// event from its data; the Tillbox-Seq header, when set, must agree.
func journalEvent(m jetstream.Msg) (hqdb.Event, error) {
	kind, t, err := wire.ParseSubject(m.Subject())
	if err != nil {
		return hqdb.Event{}, err
	}
	if kind != "journal" {
		return hqdb.Event{}, fmt.Errorf("subject %s is not a journal's", m.Subject())
	}
	meta, err := m.Metadata()
	if err != nil {
		return hqdb.Event{}, err
	}
	ev, err := hqdb.ReadEvent(t, m.Data(), meta.Sequence.Stream)
	if err != nil {
		return hqdb.Event{}, err
	}
	if h := m.Headers().Get(wire.HeaderSeq); h != "" && h != strconv.FormatUint(ev.Seq, 10) {
		return hqdb.Event{}, fmt.Errorf("%s: header %s %s but the event's seq is %d", t, wire.HeaderSeq, h, ev.Seq)
	}
	return ev, nil
}

// heartbeatBatch records the heartbeats of msgs, then acks them.
func (o Options) heartbeatBatch(ctx context.Context, msgs []jetstream.Msg) error {
	var hbs []hqdb.Heard
	var taken []jetstream.Msg
	for _, m := range msgs {
		h, err := heartbeat(m)
		if err != nil {
			o.Log.Warn("ingest: a heartbeat cannot be read; dropped", "subject", m.Subject(), "err", err)
			_ = m.Term()
			continue
		}
		hbs = append(hbs, h)
		taken = append(taken, m)
	}
	if err := o.DB.Heartbeats(ctx, hbs); err != nil {
		nakAll(taken)
		return err
	}
	o.Metrics.Heartbeats(len(hbs))
	for _, m := range taken {
		_ = m.Ack()
	}
	return nil
}

// heartbeat reads a heartbeat message; the till is the subject's, whatever
// the message says (the servers' permissions vouch for the subject only).
func heartbeat(m jetstream.Msg) (hqdb.Heard, error) {
	kind, t, err := wire.ParseSubject(m.Subject())
	if err != nil {
		return hqdb.Heard{}, err
	}
	if kind != "heartbeat" {
		return hqdb.Heard{}, fmt.Errorf("subject %s is not a heartbeat's", m.Subject())
	}
	meta, err := m.Metadata()
	if err != nil {
		return hqdb.Heard{}, err
	}
	h, err := hqdb.ParseHeartbeat(m.Data())
	if err != nil {
		return hqdb.Heard{}, err
	}
	h.Till = t
	return hqdb.Heard{Heartbeat: h, At: meta.Timestamp}, nil
}

func nakAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.NakWithDelay(time.Second)
	}
}

// backoff is the wait after n failures in a row: 250 ms doubling to 5 s,
// with jitter.
func backoff(n int) time.Duration {
	d := 250 * time.Millisecond << min(n-1, 5)
	d = min(d, 5*time.Second)
	return d/2 + rand.N(d/2+1)
}
