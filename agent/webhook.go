package agent

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/tillbox/tillbox/agent/epayment"
)

// ErrNotWebhook means a body is not an ePayment webhook event: no later
// delivery of it will be.
var ErrNotWebhook = errors.New("not an ePayment event")

// WebhookHandler serves POST /webhooks/vipps: a delivery whose signature
// does not match the configured public URL and secret gets 401 and changes
// nothing. A verified event makes the agent settle its sale from a GET at
// once, so duplicates and events out of order are harmless; while the
// sale's create is on its way, once its answer is committed
// (webhookhold.go).
func (a *Agent) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.opts.WebhookURL == "" {
			http.Error(w, "webhooks are not configured", http.StatusNotFound)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
		if err != nil || len(body) > 64<<10 {
			http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		if err := epayment.VerifyWebhook(a.opts.WebhookSecret.Reveal(), a.opts.WebhookURL, r.Header, body); err != nil {
			a.log.Warn("webhook refused", "err", err, "remote", r.RemoteAddr)
			http.Error(w, "signature does not match", http.StatusUnauthorized)
			return
		}
		if err := a.applyWebhook(body, "webhook"); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// RelayedWebhook applies a webhook headquarters relayed to this box (its
// body, verified at headquarters against the sales unit's secret) as
// WebhookHandler applies a delivery: the sale is settled from a GET, so
// a duplicate or a late one is harmless. It fails only with
// [ErrNotWebhook].
func (a *Agent) RelayedWebhook(body []byte) error {
	return a.applyWebhook(body, "relayed webhook")
}

// applyWebhook is the step after a webhook's verification: an event of
// this box's sales unit for a sale it knows settles that sale.
func (a *Agent) applyWebhook(body []byte, what string) error {
	var ev epayment.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Reference == "" {
		return ErrNotWebhook
	}
	if ev.MSN == "" || ev.MSN == a.opts.MSN {
		if _, err := a.GetSale(ev.Reference); err == nil {
			a.webhookArrived(ev.Reference)
		}
	}
	a.log.Info(what, "reference", ev.Reference, "event", ev.Name, "success", ev.Success)
	return nil
}

// EventsChanged returns a channel that is closed when the next event is
// committed: for the link to headquarters, which ships the event log.
// Take it before reading the log, so that no commit is missed.
func (a *Agent) EventsChanged() <-chan struct{} { return a.events.wait() }
