package posapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tillbox/tillbox/agent"
)

// Refund anywhere in the chain (docs/chain.md): a refund of a reference
// this box does not hold, and whose prefix is not this box's, goes to
// headquarters, which routes it to the till that took the sale. The call
// is the same as a local refund's; what comes of it later comes as events
// with a remoteRefund member.

// RemoteRefunder refunds amount (0: all that is left) of sale ref, which
// another till of the chain took, as refundId; it returns that sale as its
// till last showed it. Its errors: a *RemoteRefusal, or one wrapping
// ErrHQUnreachable or ErrRefundPending.
type RemoteRefunder func(ctx context.Context, ref string, amount int64, refundID string) (agent.Sale, error)

// WithRemoteRefunds sends refunds of other tills' sales to f (the box's
// link to headquarters).
func WithRemoteRefunds(f RemoteRefunder) Option {
	return func(s *server) { s.remote = f }
}

// RemoteRefusal is headquarters' or the other till's refusal of a refund of
// its sale, with the code of this API (not_found, invalid_request,
// wrong_state) and, for a wrong field, the field and the reason.
type RemoteRefusal struct {
	Code, Message, Field, Reason string
}

func (e *RemoteRefusal) Error() string { return e.Message }

// Errors of a RemoteRefunder.
var (
	// ErrHQUnreachable: headquarters cannot be reached; nothing was asked.
	ErrHQUnreachable = errors.New("headquarters cannot be reached: a sale of another till cannot be refunded now")
	// ErrRefundPending: headquarters has the request but has not said yet
	// what comes of it.
	ErrRefundPending = errors.New("the refund is asked at headquarters, which has not answered yet")
)

// Codes of the answers about refunds of other tills' sales.
const (
	codeHQUnreachable = "headquarters_unreachable" // 503: with Retry-After
	codeRefundPending = "refund_pending"           // 503: with Retry-After
)

// remoteRetry is the Retry-After of a 503 about a refund of another till's
// sale, in seconds.
const remoteRetry = 5

// refundElsewhere reports whether a refund of ref that this box does not
// hold goes to headquarters: a reference without this box's prefix, with
// the link configured.
func (s *server) refundElsewhere(ref string, err error) bool {
	return s.remote != nil && errors.Is(err, agent.ErrNotFound) &&
		!strings.HasPrefix(ref, s.agent.Options().ReferencePrefix+"-")
}

// failRemote answers the errors of a RemoteRefunder; false for another
// error.
func failRemote(w http.ResponseWriter, err error) bool {
	var rr *RemoteRefusal
	switch {
	case errors.As(err, &rr):
		e := apiError{Code: rr.Code, Message: rr.Message, Field: rr.Field, Reason: rr.Reason}
		status := http.StatusConflict
		switch rr.Code {
		case codeNotFound:
			status = http.StatusNotFound
		case codeInvalidRequest:
			status = http.StatusBadRequest
		case codeWrongState:
		default: // a refusal of Vipps MobilePay's, told as the sale's state
			e.Code = codeWrongState
		}
		writeError(w, status, e)
	case errors.Is(err, ErrHQUnreachable):
		w.Header().Set("Retry-After", strconv.Itoa(remoteRetry))
		writeError(w, http.StatusServiceUnavailable, apiError{Code: codeHQUnreachable, Message: err.Error() +
			": try again; the same refundId refunds once"})
	case errors.Is(err, ErrRefundPending):
		w.Header().Set("Retry-After", strconv.Itoa(remoteRetry))
		writeError(w, http.StatusServiceUnavailable, apiError{Code: codeRefundPending, Message: err.Error()})
	default:
		return false
	}
	return true
}
