package epayment

import (
	"context"
	"net/http"
	"net/url"
	"slices"
)

// WebhookRegistration is a registration just made. Keep Secret (in a secret
// store, never in a log): it is the only way to verify the webhook's
// deliveries, and the API never shows it again.
type WebhookRegistration struct {
	ID     string
	URL    string   // as registered
	Events []string // as registered
	Secret Secret
}

// RegisterWebhook subscribes url to events (e.g. WebhookEventType(EventAuthorized)).
func (c *Client) RegisterWebhook(ctx context.Context, url string, events []string) (*WebhookRegistration, error) {
	var out RegisterWebhookResponse
	err := c.do(ctx, call{op: "registerWebhook", method: http.MethodPost, path: "/webhooks/v1/webhooks",
		in: &RegisterWebhookRequest{URL: url, Events: events}, out: &out})
	if err != nil {
		return nil, err
	}
	return &WebhookRegistration{ID: out.ID, URL: url, Events: slices.Clone(events), Secret: Secret(out.Secret)}, nil
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
