package epayment

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is an answer of a Vipps MobilePay API outside 2xx (a 3xx included:
// the client never follows redirects). It carries what
// support and the sale state machine need: the HTTP status, the RFC 7807
// problem, the Vipps error code and how long to wait before a retry.
//
// Branch on StatusCode and Code, never on Title or Detail: those change over time.
type Error struct {
	Op         string // the operation, e.g. "createPayment"
	Method     string
	Path       string // path on the API host, without host or query
	StatusCode int

	Type     string
	Title    string
	Detail   string
	TraceID  string
	Instance string
	// Code is the Vipps error code, e.g. "6080", from extraDetails
	// {"name":"ErrorCode"}; empty when the API gave none (malformed fields).
	Code         string
	ExtraDetails []ExtraDetail
	// InvalidParams is the Order Management API's list of refused fields.
	InvalidParams []InvalidParam
	// RetryAfter is the wait the API asked for (429, 503), zero when none.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vipps %s: %s %s: %d", e.Op, e.Method, e.Path, e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, " code %s", e.Code)
	}
	switch {
	case e.Title != "" && e.Detail != "" && e.Detail != e.Title:
		fmt.Fprintf(&b, " %s: %s", e.Title, e.Detail)
	case e.Title != "":
		fmt.Fprintf(&b, " %s", e.Title)
	case e.Detail != "":
		fmt.Fprintf(&b, " %s", e.Detail)
	default:
		fmt.Fprintf(&b, " %s", http.StatusText(e.StatusCode))
	}
	for _, d := range e.ExtraDetails {
		if d.Name != "ErrorCode" {
			fmt.Fprintf(&b, "; %s: %s", d.Name, d.Reason)
		}
	}
	for _, p := range e.InvalidParams {
		fmt.Fprintf(&b, "; %s: %s", p.Name, p.Reason)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, " (traceId %s)", e.TraceID)
	}
	return b.String()
}

// Vipps error codes that mean "try again with the same Idempotency-Key",
// whatever the HTTP status they come with (FACTS.md §5, §6): 6160 the order is
// being processed (locked), 6280 a temporary failure.
var retryableCodes = map[string]bool{"6160": true, "6280": true}

// Retryable reports whether the same request, with the same Idempotency-Key,
// may succeed later: 5xx, 423 Locked, 429 Too Many Requests, and the Vipps
// error codes 6160 and 6280 whatever their status (400, 409, ...).
func (e *Error) Retryable() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusLocked || e.StatusCode == http.StatusTooManyRequests ||
		retryableCodes[e.Code]
}

// TransportError is a request whose answer never arrived: the network was
// down, the connection was dropped, the http.Client's own timeout struck, or
// the caller's context ended. For an operation that changes a payment the
// outcome is unknown: it may have been applied. Repeat it with the same
// Idempotency-Key, or GET the payment; never start a new payment because of it.
type TransportError struct {
	Op     string
	Method string
	Path   string
	Err    error
	// Canceled is set when the caller's context had ended (cancelled or past
	// its deadline) by the time the call failed: the caller gave up, so the
	// error is not retryable. A timeout of the http.Client or its transport
	// leaves it false, even though Err then matches context.DeadlineExceeded.
	Canceled bool
	// Unsent is set when no connection to the API was obtained (DNS,
	// connect or TLS failed, or the wait for them ended): not a byte of the
	// request was written, so nothing it asked for can have been applied.
	Unsent bool
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("vipps %s: %s %s: no answer: %v", e.Op, e.Method, e.Path, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// DecodeError is a 2xx answer that cannot be read as the API documents it
// (not JSON, the wrong shape, a token answer without a token). The request
// reached the API and may have been applied, so, like a TransportError, its
// outcome is unknown and it is retryable: repeat it with the same
// Idempotency-Key, or GET the payment to learn what happened.
type DecodeError struct {
	Op         string
	Method     string
	Path       string
	StatusCode int // the 2xx status of the unreadable answer
	Err        error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("vipps %s: %s %s: %d answer is not the expected JSON: %v", e.Op, e.Method, e.Path, e.StatusCode, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// The classes below are disjoint: an error is at most one of retryable,
// conflict, permanent and auth. An *Error with a 3xx status (a redirect, which
// the client never follows: a wrong BaseURL) is none of them.

// IsRetryable reports whether err may go away if the same request is sent
// again with the same Idempotency-Key: no answer at all (the http.Client's
// timeout included), an unreadable 2xx answer, 5xx, 423, 429, or the Vipps
// error codes 6160 and 6280. A TransportError after the caller's own context
// ended (TransportError.Canceled) is not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var te *TransportError
	if errors.As(err, &te) {
		return !te.Canceled
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return true
	}
	var ae *Error
	return errors.As(err, &ae) && ae.Retryable()
}

// IsConflict reports whether the API answered 409 Conflict: an Idempotency-Key
// reused with another body or operation, or a reference that exists already.
// A 409 with a retryable code (6160, 6280) is retryable, not a conflict.
func IsConflict(err error) bool {
	var ae *Error
	return errors.As(err, &ae) && ae.StatusCode == http.StatusConflict && !ae.Retryable()
}

// IsAuth reports whether the API answered 401 Unauthorized or 403 Forbidden
// (after the client's one token refresh): wrong or revoked keys, a sales unit
// without the product or permission. A technician can fix it, so an outbox
// should pause and keep the command, not drop it.
func IsAuth(err error) bool {
	s := StatusCode(err)
	return s == http.StatusUnauthorized || s == http.StatusForbidden
}

// IsPermanent reports whether the API refused the request for good: a 4xx
// other than 401 and 403 (IsAuth), 409 (IsConflict), 423 and 429, and without
// a retryable error code. Sending it again, even with the same key, gives the
// same answer.
func IsPermanent(err error) bool {
	var ae *Error
	if !errors.As(err, &ae) {
		return false
	}
	s := ae.StatusCode
	return s >= 400 && s < 500 && !ae.Retryable() && !IsAuth(err) && s != http.StatusConflict
}

// OutcomeUnknown reports whether a request that changes a payment may or may
// not have been applied: no answer arrived, the 2xx answer was unreadable, or
// the API failed with 5xx.
func OutcomeUnknown(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return true
	}
	return StatusCode(err) >= 500
}

// NotSent reports whether err proves that the request it came from never
// reached the API, so nothing it asked for was applied: no connection
// could be obtained for it (TransportError.Unsent), or the access token
// could not be had (an error of the token call, "accessToken": the request
// itself was then not sent, or only once with a token refused by 401).
// Any other error, a timeout or a dropped connection after the request was
// written included, leaves the outcome unknown. Not for the token call's
// own errors.
func NotSent(err error) bool {
	var te *TransportError
	if errors.As(err, &te) && (te.Unsent || te.Op == OpToken) {
		return true
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Op == OpToken
	}
	var de *DecodeError
	return errors.As(err, &de) && de.Op == OpToken
}

// StatusCode is the HTTP status of an *Error in err's chain, or 0.
func StatusCode(err error) int {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

// ErrorCode is the Vipps error code of an *Error in err's chain, e.g. "6080", or "".
func ErrorCode(err error) string {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// RetryAfter is the wait an *Error in err's chain asked for, or 0.
func RetryAfter(err error) time.Duration {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
