package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/agent/posapi"
)

// Refund anywhere in the chain (docs/chain.md): the link's hooks into the
// agent, and the POS API's way to refund another till's sale through the
// link.

// remoteRefundWait is how long a POS's refund of another till's sale waits
// for headquarters' first word.
const remoteRefundWait = 10 * time.Second

// refundHooks connect the link's refunds to the agent.
func (m *Main) refundHooks() *fleet.RefundHooks {
	a := m.agent
	return &fleet.RefundHooks{
		Apply: func(ctx context.Context, ref string, amount int64, id string) ([]byte, *wire.RefundRefusal, error) {
			sale, err := a.RefundSale(ctx, ref, amount, id)
			if errors.Is(err, agent.ErrNotFound) {
				err = fmt.Errorf("%w %s at its till", err, ref)
			}
			if refusal := refusalOf(err); refusal != nil {
				return nil, refusal, nil
			}
			if err != nil {
				return nil, nil, err
			}
			b, err := json.Marshal(sale)
			return b, nil, err
		},
		Outcome: func(ref, id string) (bool, bool, []byte, error) {
			done, made, sale, err := a.RefundOutcome(ref, id)
			if err != nil {
				return false, false, nil, err
			}
			b, err := json.Marshal(sale)
			return done, made, b, err
		},
		Status:  m.recordRemoteRefund,
		Changed: a.EventsChanged,
	}
}

// refusalOf is the refusal of a refund the agent refused for good; nil for
// no error or one to try again (a full queue, a stop).
func refusalOf(err error) *wire.RefundRefusal {
	var ve *agent.ValidationError
	switch {
	case errors.As(err, &ve):
		return &wire.RefundRefusal{Code: "invalid_request", Field: ve.Field, Reason: ve.Reason, Message: ve.Field + ": " + ve.Reason}
	case errors.Is(err, agent.ErrNotFound):
		return &wire.RefundRefusal{Code: "not_found", Message: err.Error()}
	case errors.Is(err, agent.ErrWrongState):
		return &wire.RefundRefusal{Code: "wrong_state", Message: err.Error()}
	}
	return nil
}

// recordRemoteRefund records a status of one of this box's requests as an
// event for the POS.
func (m *Main) recordRemoteRefund(st wire.RefundStatus) error {
	rr := agent.RemoteRefund{RefundID: st.RefundID, Amount: st.Amount, State: st.State}
	if st.Owner != nil {
		rr.Store, rr.Till = st.Owner.Store, st.Owner.Till
	}
	if r := st.Refusal; r != nil {
		rr.Error, rr.Message, rr.Field, rr.Reason = r.Code, r.Message, r.Field, r.Reason
	}
	sale, err := saleOf(st)
	if err != nil {
		return fmt.Errorf("%w: %w", fleet.ErrRejected, err)
	}
	return m.agent.RecordRemoteRefund(st.Key, st.Step, sale, rr)
}

// saleOf is the sale a status carries; nil when it carries none.
func saleOf(st wire.RefundStatus) (*agent.Sale, error) {
	if len(st.Sale) == 0 || string(st.Sale) == "null" {
		return nil, nil
	}
	var s agent.Sale
	if err := json.Unmarshal(st.Sale, &s); err != nil {
		return nil, fmt.Errorf("the sale of refund %s: %w", st.Key, err)
	}
	return &s, nil
}

// remoteRefunder is the POS API's refund of another till's sale, through
// the link; nil when [fleet] is off.
func (m *Main) remoteRefunder() posapi.RemoteRefunder {
	if m.fleet == nil {
		return nil
	}
	link := m.fleet.link
	return func(ctx context.Context, ref string, amount int64, refundID string) (agent.Sale, error) {
		if refundID == "" { // a retry without one could refund twice
			return agent.Sale{}, &posapi.RemoteRefusal{Code: "invalid_request", Field: "refundId", Reason: noRefundID,
				Message: "refundId: " + noRefundID}
		}
		st, err := link.RefundElsewhere(ctx, ref, amount, refundID, remoteRefundWait)
		switch {
		case errors.Is(err, fleet.ErrHQUnreachable):
			return agent.Sale{}, fmt.Errorf("%w: %w; refundId %s", posapi.ErrHQUnreachable, err, refundID)
		case errors.Is(err, fleet.ErrNoAnswer):
			return agent.Sale{}, fmt.Errorf("%w: refundId %s", posapi.ErrRefundPending, refundID)
		case err != nil:
			return agent.Sale{}, err
		}
		if r := st.Refusal; r != nil {
			return agent.Sale{}, &posapi.RemoteRefusal{Code: r.Code, Message: r.Message, Field: r.Field, Reason: r.Reason}
		}
		sale, err := saleOf(st)
		if err != nil {
			return agent.Sale{}, err
		}
		if sale == nil {
			owner := "its till"
			if st.Owner != nil {
				owner = "till " + st.Owner.Store + "/" + st.Owner.Till
			}
			return agent.Sale{}, fmt.Errorf("%w: it is queued for %s, which has not shown the sale to headquarters yet; refundId %s",
				posapi.ErrRefundPending, owner, refundID)
		}
		return *sale, nil
	}
}

// noRefundID is the refusal of a refund of another till's sale without a
// refundId: headquarters may be slow to answer or out of reach, and only
// the same refundId makes asking again safe.
const noRefundID = "give one to refund a sale of another till: the call may have to be repeated, and the same refundId refunds once"
