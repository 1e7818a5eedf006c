package posapi

import (
	"context"
	"net/http"

	"github.com/tillbox/tillbox/agent"
)

// Busy asks whether a payment is in flight (GET /api/v1/busy).
func (c *Client) Busy(ctx context.Context) (agent.Busy, error) {
	var b agent.Busy
	_, err := c.do(ctx, http.MethodGet, "/api/v1/busy", nil, nil, &b)
	return b, err
}
