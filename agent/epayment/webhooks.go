package epayment

import (
	"context"
	"net/http"
	"net/url"
)

// RegisterWebhook subscribes url to events (e.g. WebhookEventType(EventAuthorized)).
// Keep the answer's Secret: it is the only way to verify deliveries.
func (c *Client) RegisterWebhook(ctx context.Context, url string, events []string) (*RegisterWebhookResponse, error) {
	var out RegisterWebhookResponse
	err := c.do(ctx, call{op: "registerWebhook", method: http.MethodPost, path: "/webhooks/v1/webhooks",
		in: &RegisterWebhookRequest{URL: url, Events: events}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListWebhooks lists the sales unit's webhook registrations.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	var out WebhookList
	if err := c.do(ctx, call{op: "listWebhooks", method: http.MethodGet, path: "/webhooks/v1/webhooks", out: &out}); err != nil {
		return nil, err
	}
	return out.Webhooks, nil
}

// DeleteWebhook removes a registration.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, call{op: "deleteWebhook", method: http.MethodDelete, path: "/webhooks/v1/webhooks/" + url.PathEscape(id)})
}
