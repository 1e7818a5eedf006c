// Package refunds is headquarters' part of a refund anywhere in the chain:
// a till (the asker) asks for a refund of a sale another till (the owner)
// took. Headquarters reads every asker's requests from JetStream, refuses
// at once what it knows cannot be done (a reference no till has, a sale
// not captured or with less left than asked), routes the rest by the
// reference to the owner's queue (a durable consumer per box: it waits
// there while the owner is offline), records every request and what came
// of it in PostgreSQL (table refunds), and tells the asker each change.
// The contract is package wire's (refund.go); docs/chain.md tells the
// whole story.
package refunds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqnats"
)

// The durable consumers headquarters reads with (shared by every
// headquarters process of the chain).
const (
	RequestConsumer = "hq_refund_requests"
	ResultConsumer  = "hq_refund_results"
)

// Duplicates is the refund stream's de-duplication window.
const Duplicates = 10 * time.Minute

// StreamConfig is the refund stream of s: requests, queues, results and
// statuses, kept as long as the journal (a queued refund waits for its
// till that long).
func StreamConfig(s hqnats.Streams) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        wire.RefundStream,
		Description: "refunds asked at one till for another till's sale",
		Subjects:    wire.RefundStreamSubjects(s.Chain),
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      s.JournalMaxAge,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Discard:     jetstream.DiscardNew,
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		Duplicates:  Duplicates,
	}
}

// EnsureStream creates the refund stream, or updates it to s.
func EnsureStream(ctx context.Context, js jetstream.JetStream, s hqnats.Streams) error {
	if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(s)); err != nil {
		return fmt.Errorf("stream %s: %w", wire.RefundStream, err)
	}
	return nil
}

// Options are what Run needs.
type Options struct {
	Chain string
	JS    jetstream.JetStream
	Pool  *pgxpool.Pool
	Log   *slog.Logger
	// Heartbeat is the boxes' heartbeat interval: a till is online while
	// its last heartbeat is younger than three of them.
	Heartbeat time.Duration
}

// Run routes the requests and records the results until ctx ends,
// outliving every failure of NATS or PostgreSQL.
func Run(ctx context.Context, o Options) error {
	r := &router{Options: o}
	var wg sync.WaitGroup
	prefix := "tillbox." + o.Chain + "."
	wg.Go(func() { r.consume(ctx, RequestConsumer, prefix+wire.KindRefundRequest+".>", r.onRequest) })
	wg.Go(func() { r.consume(ctx, ResultConsumer, prefix+wire.KindRefundResult+".>", r.onResult) })
	wg.Wait()
	return nil
}

type router struct{ Options }

// errDrop marks a message that can never be handled: terminated (it stays
// in the stream for a look).
var errDrop = errors.New("dropped")

// consume fetches the durable consumer's messages and hands each to
// handle, acking it after (a nak for another try when handle fails).
func (r *router) consume(ctx context.Context, durable, filter string, handle func(context.Context, jetstream.Msg) error) {
	log := r.Log.With("consumer", durable)
	for fails := 0; ctx.Err() == nil; {
		err := r.fetchLoop(ctx, durable, filter, handle, log)
		if ctx.Err() != nil {
			return
		}
		fails++
		if fails == 1 || fails%20 == 0 {
			log.Warn("refunds: waiting to try again", "err", err, "failures", fails)
		}
		d := 250 * time.Millisecond << min(fails-1, 4)
		select {
		case <-ctx.Done():
		case <-time.After(d/2 + rand.N(d/2+1)):
		}
	}
}

func (r *router) fetchLoop(ctx context.Context, durable, filter string, handle func(context.Context, jetstream.Msg) error, log *slog.Logger) error {
	cons, err := r.JS.CreateOrUpdateConsumer(ctx, wire.RefundStream, jetstream.ConsumerConfig{
		Durable: durable, FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 256, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(32, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
			herr := handle(hctx, m)
			cancel()
			switch {
			case herr == nil:
				_ = m.Ack()
			case errors.Is(herr, errDrop):
				log.Warn("refunds: a message cannot be handled; terminated, it stays in the stream", "subject", m.Subject(), "err", herr)
				_ = m.Term()
			default:
				log.Warn("refunds: a message will be tried again", "subject", m.Subject(), "err", herr)
				_ = m.NakWithDelay(time.Second)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
	}
	return nil
}

// onRequest takes an asker's request: a new one is decided and recorded,
// a repeated one (the same key) sent on again as it stands.
func (r *router) onRequest(ctx context.Context, m jetstream.Msg) error {
	kind, asker, err := wire.ParseSubject(m.Subject())
	if err != nil || kind != wire.KindRefundRequest || asker.Chain != r.Chain {
		return fmt.Errorf("%w: subject %s", errDrop, m.Subject())
	}
	var req wire.RefundRequest
	if err := json.Unmarshal(m.Data(), &req); err != nil || req.Reference == "" || req.RefundID == "" || req.Amount < 0 {
		return fmt.Errorf("%w: not a refund request: %s", errDrop, m.Data())
	}
	key := wire.RefundKey(asker, req.Reference, req.RefundID)
	row, ok, err := find(ctx, r.Pool, r.Chain, key)
	if err != nil {
		return err
	}
	if ok && row.Amount != req.Amount {
		// The same id for another amount: refused to this asker only; the
		// row stays as it is.
		st := status(row)
		st.Step, st.State, st.Amount = 0, wire.RefundRefused, req.Amount
		st.Refusal = &wire.RefundRefusal{Code: "invalid_request", Field: "refundId",
			Reason:  "was used for a refund of " + amountText(row.Amount) + "; use another refundId for another refund",
			Message: "refundId: was used for a refund of " + amountText(row.Amount) + "; use another refundId for another refund"}
		return r.publishStatus(ctx, asker, st)
	}
	if !ok {
		k, err := lookup(ctx, r.Pool, r.Chain, req.Reference)
		if err != nil {
			return err
		}
		row = decide(key, asker, req, k)
		if row, err = insert(ctx, r.Pool, r.Chain, row); err != nil {
			return err
		}
		r.Log.Info("refund asked at another till", "key", key, "reference", req.Reference, "amount", req.Amount,
			"state", row.State, "owner", row.Owner.String())
	}
	return r.send(ctx, row)
}

// amountText is an amount of a request for people.
func amountText(v int64) string {
	if v == 0 {
		return "all that was left"
	}
	return agent.Minor(v)
}

// decide is what headquarters makes of a new request from what it knows
// of the reference: refused at once, or queued for the owner, which has
// the last word.
func decide(key string, asker wire.Till, req wire.RefundRequest, k known) Refund {
	row := Refund{Key: key, Asker: asker, RefundID: req.RefundID, Reference: req.Reference, Amount: req.Amount,
		Owner: k.owner, State: wire.RefundQueued, Sale: k.saleJSON}
	refuse := func(code, field, reason, msg string) Refund {
		row.State, row.Refusal = wire.RefundRefused, &wire.RefundRefusal{Code: code, Field: field, Reason: reason, Message: msg}
		return row
	}
	switch {
	case !k.ownerKnown:
		row.Owner = wire.Till{}
		return refuse("not_found", "", "", "no such sale: no till of the chain has a sale "+req.Reference)
	case !k.sale && k.caughtUp:
		return refuse("not_found", "", "", "no such sale: till "+k.owner.Store+"/"+k.owner.Till+" has no sale "+req.Reference)
	case !k.sale || !k.final:
		return row // the owner decides: headquarters' copy may be behind
	case k.captured == 0:
		return refuse("wrong_state", "", "", fmt.Sprintf("%s: sale is %s; only captured sales can be refunded", agent.ErrWrongState, k.state))
	}
	left := k.captured - k.refunded
	if left <= 0 {
		return refuse("wrong_state", "", "", fmt.Sprintf("%s: nothing is left to refund (captured %s, refunded %s)",
			agent.ErrWrongState, agent.Minor(k.captured), agent.Minor(k.refunded)))
	}
	if req.Amount > left {
		reason := fmt.Sprintf("at most %s can be refunded (captured %s, refunded %s)", agent.Minor(left), agent.Minor(k.captured), agent.Minor(k.refunded))
		return refuse("invalid_request", "amount", reason, "amount: "+reason)
	}
	return row
}

// send sends row on as it stands: its status to its asker, then, while it
// is queued, the order to its owner. Both are idempotent (message ids;
// the owner's refund id; the asker's steps).
func (r *router) send(ctx context.Context, row Refund) error {
	st := status(row)
	if row.State == wire.RefundQueued {
		heard, err := heardOf(ctx, r.Pool, row.Owner)
		if err != nil {
			return err
		}
		st.OwnerOnline = heard != nil && time.Since(*heard) < 3*r.Heartbeat
	}
	// The asker hears of the step before the owner gets the order, so a
	// fast owner's "accepted" never reaches the asker ahead of "queued"
	// (one subject, one order). A crash in between sends both again.
	if err := r.publishStatus(ctx, row.Asker, st); err != nil {
		return err
	}
	if row.State != wire.RefundQueued {
		return nil
	}
	order := wire.RefundOrder{Key: row.Key, Reference: row.Reference, Amount: row.Amount,
		RefundID: wire.OwnerRefundID(row.Key), Asker: row.Asker, At: row.Created}
	return r.publish(ctx, row.Owner.RefundQueueSubject(), wire.RefundOrderMsgID(row.Key), order)
}

func status(row Refund) wire.RefundStatus {
	st := wire.RefundStatus{Key: row.Key, Reference: row.Reference, RefundID: row.RefundID, Amount: row.Amount,
		Step: row.Step, State: row.State, Refusal: row.Refusal, Sale: row.Sale, At: row.Updated}
	if row.Owner.Store != "" {
		o := row.Owner
		st.Owner = &o
	}
	return st
}

// publishStatus tells the asker st. No message id: a repeated request is
// answered again (the asker records each step once, however often it
// comes).
func (r *router) publishStatus(ctx context.Context, asker wire.Till, st wire.RefundStatus) error {
	return r.publish(ctx, asker.RefundStatusSubject(), "", st)
}

func (r *router) publish(ctx context.Context, subject, msgID string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(subject)
	msg.Data = b
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	_, err = r.JS.PublishMsg(ctx, msg, opts...)
	return err
}

// onResult takes an owner's result: the row moves on when the result is
// its next state, and the asker hears of the row as it stands.
func (r *router) onResult(ctx context.Context, m jetstream.Msg) error {
	kind, owner, err := wire.ParseSubject(m.Subject())
	if err != nil || kind != wire.KindRefundResult || owner.Chain != r.Chain {
		return fmt.Errorf("%w: subject %s", errDrop, m.Subject())
	}
	var res wire.RefundResult
	if err := json.Unmarshal(m.Data(), &res); err != nil || res.Key == "" || wire.RefundRank(res.State) < 2 {
		return fmt.Errorf("%w: not a refund result: %s", errDrop, m.Data())
	}
	row, ok, err := find(ctx, r.Pool, r.Chain, res.Key)
	if err != nil {
		return err
	}
	if !ok || row.Owner != owner {
		// Only the till a refund was queued for answers for it.
		return fmt.Errorf("%w: %s answers for refund %q, which is not queued for it", errDrop, owner, res.Key)
	}
	before := row.State
	if row, err = advance(ctx, r.Pool, r.Chain, res); err != nil {
		return err
	}
	if row.State != before {
		r.Log.Info("refund at another till", "key", row.Key, "reference", row.Reference, "state", row.State, "owner", owner.String())
	}
	return r.publishStatus(ctx, row.Asker, status(row))
}
