package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// The refunds' publish to the refund stream (refund.go); their durable
// pull consumers are read as the relay's is (pull.go).

// publishRefund stores v on subject in the refund stream and waits for the
// acknowledgement; msgID, when set, de-duplicates a repeat.
func publishRefund(ctx context.Context, nc *nats.Conn, subject, msgID string, v any, timeout time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(subject)
	msg.Data = b
	msg.Header.Set(wire.HeaderExpectedStream, wire.RefundStream)
	if msgID != "" {
		msg.Header.Set(wire.HeaderMsgID, msgID)
	}
	var ack pubAck
	if err := apiRequest(ctx, nc, msg, timeout, &ack); err != nil {
		return err
	}
	if ack.Stream != wire.RefundStream {
		return fmt.Errorf("an acknowledgement from stream %q, not from %s", ack.Stream, wire.RefundStream)
	}
	return nil
}
