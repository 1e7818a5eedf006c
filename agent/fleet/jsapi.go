package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// The few JetStream calls a box makes, as plain NATS requests to the API
// subjects of package wire (which its permissions allow, and nothing
// else): publish an event and read the acknowledgement, read the last
// message of its journal subject (a direct get), create its durable relay
// consumer and pull from it. nats.go's jetstream package would do the
// same with 0.6 MB more of the box's binary (docs/chain.md).

// apiError is JetStream's error in an answer.
type apiError struct {
	Code        int    `json:"code"`     // an HTTP-like status
	ErrCode     int    `json:"err_code"` // JetStream's own code, e.g. wire.ErrWrongLastSequence
	Description string `json:"description"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (JetStream error %d, status %d)", e.Description, e.ErrCode, e.Code)
}

// errNoJetStream: nothing answers the subject: no stream holds it (not
// created yet), or the consumer is gone.
var errNoJetStream = errors.New("no JetStream stream or consumer answers")

// apiRequest sends msg and decodes the JSON answer into v, which embeds
// the error field of every JetStream answer: a JetStream error comes back
// as an *apiError.
func apiRequest(ctx context.Context, nc *nats.Conn, msg *nats.Msg, timeout time.Duration, v interface{ apiErr() *apiError }) error {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := nc.RequestMsgWithContext(rctx, msg)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%s: %w", msg.Subject, errNoJetStream)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.Data, v); err != nil {
		return fmt.Errorf("%s: an answer that is not JetStream's: %w", msg.Subject, err)
	}
	if e := v.apiErr(); e != nil {
		return e
	}
	return nil
}

// answer is the error field every JetStream API answer may carry.
type answer struct {
	Error *apiError `json:"error,omitempty"`
}

func (a *answer) apiErr() *apiError { return a.Error }

// pubAck is JetStream's acknowledgement of a publish.
type pubAck struct {
	answer
	Stream    string `json:"stream"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// publishEvent appends msg to the journal stream with the
// de-duplication id and the expected last sequence of its subject, and
// returns the acknowledgement.
func publishEvent(ctx context.Context, nc *nats.Conn, msg *nats.Msg, msgID string, lastSubjSeq uint64, timeout time.Duration) (pubAck, error) {
	msg.Header.Set(wire.HeaderMsgID, msgID)
	msg.Header.Set(wire.HeaderExpectedStream, wire.JournalStream)
	msg.Header.Set(wire.HeaderExpectedLastSubjSeq, strconv.FormatUint(lastSubjSeq, 10))
	var ack pubAck
	if err := apiRequest(ctx, nc, msg, timeout, &ack); err != nil {
		return pubAck{}, err
	}
	if ack.Stream != wire.JournalStream || ack.Seq == 0 {
		return pubAck{}, fmt.Errorf("an acknowledgement from stream %q at sequence %d, not from %s", ack.Stream, ack.Seq, wire.JournalStream)
	}
	return ack, nil
}

// consumerConfig is the part of JetStream's consumer configuration the
// box sets (the server fills in the rest).
type consumerConfig struct {
	Name          string `json:"name"`
	Durable       string `json:"durable_name"`
	Description   string `json:"description,omitempty"`
	FilterSubject string `json:"filter_subject"`
	DeliverPolicy string `json:"deliver_policy"`
	AckPolicy     string `json:"ack_policy"`
	AckWait       int64  `json:"ack_wait"` // nanoseconds
	MaxAckPending int    `json:"max_ack_pending"`
	MaxDeliver    int    `json:"max_deliver,omitempty"`
}

// consumerInfo is what the box reads of a consumer's information.
type consumerInfo struct {
	answer
	Name string `json:"name"`
}
