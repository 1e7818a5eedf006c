package epayment

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is an answer of a Vipps MobilePay API outside 2xx. It carries what
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

// Retryable reports whether the same request, with the same Idempotency-Key,
// may succeed later: 5xx, 423 Locked and 429 Too Many Requests.
func (e *Error) Retryable() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusLocked || e.StatusCode == http.StatusTooManyRequests
}

// TransportError is a request whose answer never arrived: the network was
// down, the connection was dropped, or the context ended. For an operation
// that changes a payment the outcome is unknown: it may have been applied.
// Repeat it with the same Idempotency-Key, or GET the payment; never start a
// new payment because of it.
type TransportError struct {
	Op     string
	Method string
	Path   string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("vipps %s: %s %s: no answer: %v", e.Op, e.Method, e.Path, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// IsRetryable reports whether err may go away if the same request is sent
// again with the same Idempotency-Key: no answer at all, 5xx, 423 or 429.
// A cancelled or expired context of the caller is not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var te *TransportError
	if errors.As(err, &te) {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	var ae *Error
	return errors.As(err, &ae) && ae.Retryable()
}

// IsConflict reports whether the API answered 409 Conflict: an Idempotency-Key
// reused with another body or operation, or a reference that exists already.
func IsConflict(err error) bool {
	return StatusCode(err) == http.StatusConflict
}

// IsPermanent reports whether the API refused the request for good: a 4xx
// other than 409, 423 and 429. Sending it again, even with the same key,
// gives the same answer.
func IsPermanent(err error) bool {
	s := StatusCode(err)
	return s >= 400 && s < 500 && s != http.StatusConflict && s != http.StatusLocked && s != http.StatusTooManyRequests
}

// OutcomeUnknown reports whether a request that changes a payment may or may
// not have been applied: no answer arrived, or the API failed with 5xx.
func OutcomeUnknown(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	return StatusCode(err) >= 500
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
