package posapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/store"
)

// Codes of the "error" member of an error answer. A POS branches on these;
// the message is for people.
const (
	codeInvalidRequest   = "invalid_request"        // 400: see field and reason
	codeUnauthorized     = "unauthorized"           // 401
	codeForbidden        = "forbidden"              // 403: a WebSocket from another origin
	codeNotFound         = "not_found"              // 404: no such sale or route
	codeMethodNotAllowed = "method_not_allowed"     // 405
	codeConflict         = "reference_conflict"     // 409: another sale has this reference
	codeWrongState       = "wrong_state"            // 409: not possible in the sale's state
	codeBusy             = "busy"                   // 409: another sale waits for a scan
	codePaymentPending   = "payment_pending"        // 409: a scan while a customer is paying
	codeEventsPruned     = "events_pruned"          // 410: after is older than the kept log
	codeEventsAhead      = "events_ahead"           // 409: after is past the newest event
	codeTooLarge         = "body_too_large"         // 413
	codeMediaType        = "unsupported_media_type" // 415
	codeQueueFull        = "queue_full"             // 503: with Retry-After
	codeShuttingDown     = "shutting_down"          // 503: with Retry-After
	codeInternal         = "internal"               // 500: details in the box's log
	codeRecordDamaged    = "record_damaged"         // 500: a record of the box's database cannot be read; seq names an event
)

// queueFullRetry is the Retry-After of a 503 queue_full, in seconds.
const queueFullRetry = 30

// stoppingRetry is the Retry-After of a 503 shutting_down, in seconds: a
// restart takes a few.
const stoppingRetry = 5

// apiError is the body of every error answer.
type apiError struct {
	Code    string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
}

// invalidRequest is a 400 naming the field at fault.
func invalidRequest(field, reason string) *requestError {
	msg := reason
	if field != "" {
		msg = field + ": " + reason
	}
	return &requestError{status: http.StatusBadRequest, body: apiError{Code: codeInvalidRequest, Message: msg, Field: field, Reason: reason}}
}

// requestError is an error found before the agent is asked: it carries its
// answer.
type requestError struct {
	status int
	body   apiError
}

func (e *requestError) Error() string { return e.body.Message }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen with the types of this package
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal","message":"internal error: see the box's log"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, e apiError) { writeJSON(w, status, e) }

// fail answers err: a refused request, or an error of the agent mapped to
// its status. Anything unexpected is logged and answered with a generic
// 500, so that nothing internal reaches the POS.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *requestError
	var ve *agent.ValidationError
	var ce *store.CorruptError
	switch {
	case failRemote(w, err): // a refund of another till's sale (remote.go)
	case errors.As(err, &re):
		writeError(w, re.status, re.body)
	case errors.As(err, &ve):
		e := invalidRequest(ve.Field, ve.Reason)
		writeError(w, e.status, e.body)
	case errors.Is(err, agent.ErrNotFound):
		writeError(w, http.StatusNotFound, apiError{Code: codeNotFound, Message: err.Error()})
	case errors.Is(err, agent.ErrConflict):
		writeError(w, http.StatusConflict, apiError{Code: codeConflict, Message: err.Error() +
			": repeat a request with the same reference only with the same amount, currency, description and customer"})
	case errors.Is(err, agent.ErrWrongState):
		writeError(w, http.StatusConflict, apiError{Code: codeWrongState, Message: err.Error()})
	case errors.Is(err, agent.ErrBusy):
		writeError(w, http.StatusConflict, apiError{Code: codeBusy, Message: err.Error() +
			": cancel it, or send this sale with the customer's code or phone number"})
	case errors.Is(err, agent.ErrPaymentPending):
		writeError(w, http.StatusConflict, apiError{Code: codePaymentPending, Message: err.Error()})
	case errors.Is(err, agent.ErrEventsPruned):
		writeError(w, http.StatusGone, apiError{Code: codeEventsPruned, Message: err.Error() +
			": the events you asked for are gone; resume after lastSeq of GET /api/v1/status and reconcile your open sales with GET /api/v1/sales/{reference}"})
	case errors.Is(err, agent.ErrEventsAhead):
		writeError(w, http.StatusConflict, apiError{Code: codeEventsAhead, Message: err.Error() +
			": your position comes from another database (a backup restored on the box, or another box); reconcile your open sales with GET /api/v1/sales/{reference} and resume after lastSeq of GET /api/v1/status"})
	case errors.Is(err, agent.ErrQueueFull):
		w.Header().Set("Retry-After", strconv.Itoa(queueFullRetry))
		writeError(w, http.StatusServiceUnavailable, apiError{Code: codeQueueFull, Message: err.Error()})
	case errors.Is(err, agent.ErrStopping):
		w.Header().Set("Retry-After", strconv.Itoa(stoppingRetry))
		writeError(w, http.StatusServiceUnavailable, apiError{Code: codeShuttingDown, Message: err.Error()})
	case errors.As(err, &ce):
		s.log.Error("POS API: a damaged record of the database", "method", r.Method, "path", r.URL.Path, "record", ce.Record, "err", err)
		writeError(w, http.StatusInternalServerError, damagedAnswer(ce))
	default:
		s.log.Error("POS API: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, apiError{Code: codeInternal,
			Message: "internal error: see the box's log"})
	}
}

// damagedAnswer names a record that cannot be read and what to do: the
// box's technician restores a backup; a POS reading events may step over
// the damaged one with after=seq, and settles its sale by reference.
func damagedAnswer(ce *store.CorruptError) apiError {
	what := "a record"
	if ce.Record != "" {
		what = ce.Record
	}
	msg := what + " of the box's database cannot be read: the box's technician must run `tillbox doctor` and restore the newest backup"
	if ce.Seq != 0 {
		msg += fmt.Sprintf("; to read the events after it, ask again with after=%d (event %d is then skipped: settle your open sales with GET /api/v1/sales/{reference})", ce.Seq, ce.Seq)
	}
	return apiError{Code: codeRecordDamaged, Message: msg, Seq: ce.Seq}
}
