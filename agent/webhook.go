package agent

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/tillbox/tillbox/agent/epayment"
)

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
		var ev epayment.WebhookEvent
		if err := json.Unmarshal(body, &ev); err != nil || ev.Reference == "" {
			http.Error(w, "not an ePayment event", http.StatusBadRequest)
			return
		}
		if ev.MSN == "" || ev.MSN == a.opts.MSN {
			if _, err := a.GetSale(ev.Reference); err == nil {
				a.webhookArrived(ev.Reference)
			}
		}
		a.log.Info("webhook", "reference", ev.Reference, "event", ev.Name, "success", ev.Success)
		w.WriteHeader(http.StatusOK)
	})
}
