package epayment

import (
	"context"
	"io"
	"net/http"
	"time"
)

// Probe asks the API host for any answer at all: one GET of the base URL's
// root, without credentials, token or subscription key. Any HTTP answer,
// whatever its status, means the host is reachable again and returns nil;
// no answer is a *TransportError. It is how an agent that is offline notices
// at once that Vipps MobilePay answers again, without sending a queued
// command (or a secret) into a network that may still be down. Observed as
// the operation "probe".
func (c *Client) Probe(ctx context.Context) (err error) {
	const op = "probe"
	began, status := time.Now(), 0
	defer func() { c.observe(op, status, began, err) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+"/", http.NoBody)
	if err != nil {
		return err
	}
	for k, v := range c.headers { // the Vipps-System-* headers: no secret
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &TransportError{Op: op, Method: req.Method, Path: "/", Err: unwrapURLError(err), Canceled: ctx.Err() != nil}
	}
	defer resp.Body.Close()
	// Read a little of the body so that the connection can be kept for the
	// calls that follow; the answer itself does not matter.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	status = resp.StatusCode
	c.clock.note(resp.Header, c.now())
	return nil
}
