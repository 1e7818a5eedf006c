package epayment

import (
	"errors"
	"time"
)

// CallInfo describes one round trip to a Vipps MobilePay API, for metrics.
// It holds no header, body, token or URL.
type CallInfo struct {
	// Op is the operation, e.g. "createPayment", "getPayment",
	// "accessToken" (a token refresh).
	Op string
	// Status is the HTTP status; 0 when no answer came.
	Status int
	// Code is the Vipps error code of a refused call ("" when none).
	Code string
	// Duration is the time from sending the request to reading the answer.
	Duration time.Duration
}

// observe tells cfg.Observe of a round trip.
func (c *Client) observe(op string, status int, began time.Time, err error) {
	if c.cfg.Observe == nil {
		return
	}
	ci := CallInfo{Op: op, Status: status, Duration: time.Since(began)}
	var e *Error
	if errors.As(err, &e) {
		ci.Code = e.Code
	}
	c.cfg.Observe(ci)
}
