// Package relay receives Vipps MobilePay webhooks at headquarters and
// relays each to the box whose payment it is, through JetStream: POST
// /webhooks/vipps/{msn}, one registration per sales unit. A delivery is
// verified with its unit's secret and registered URL, published durably to
// the till's relay subject (or the unrouted one), and only then answered
// 200. A forged one gets 401 and nothing is published; when NATS does not
// take it the answer is 503 and Vipps MobilePay tries again.
package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqmetrics"
)

// MaxBody is the largest webhook body taken.
const MaxBody = 64 << 10

// Unit is a sales unit whose webhooks come here.
type Unit struct {
	// URL is the URL registered with Vipps MobilePay; the signature covers it.
	URL    string
	Secret epayment.Secret
}

// Publisher is the part of JetStream the relay uses.
type Publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Relay is the webhook handler.
type Relay struct {
	chain   string
	units   map[string]Unit
	js      Publisher
	routes  *Routes
	metrics *hqmetrics.Metrics
	log     *slog.Logger
	// PublishTimeout bounds the wait for JetStream's ack.
	PublishTimeout time.Duration
}

// New makes the relay of chain for units (by MSN).
func New(chain string, units map[string]Unit, js Publisher, routes *Routes, m *hqmetrics.Metrics, log *slog.Logger) *Relay {
	return &Relay{chain: chain, units: units, js: js, routes: routes, metrics: m, log: log, PublishTimeout: 5 * time.Second}
}

// Pattern is the path the relay serves, for http.ServeMux.
const Pattern = "/webhooks/vipps/{msn}"

// ServeHTTP handles one delivery; r.PathValue("msn") names the unit.
func (rl *Relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	msn := r.PathValue("msn")
	unit, ok := rl.units[msn]
	if !ok {
		rl.metrics.Relay(hqmetrics.RelayBad)
		http.Error(w, "no such sales unit here", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil || len(body) > MaxBody {
		rl.metrics.Relay(hqmetrics.RelayBad)
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	if err := epayment.VerifyWebhook(unit.Secret.Reveal(), unit.URL, r.Header, body); err != nil {
		rl.metrics.Relay(hqmetrics.RelayForged)
		rl.log.Warn("webhook refused", "msn", msn, "err", err, "remote", r.RemoteAddr)
		http.Error(w, "signature does not match", http.StatusUnauthorized)
		return
	}
	// A verified delivery that names no payment (another event type
	// registered on this URL) is kept unrouted: a 4xx would make Vipps
	// MobilePay retry it for days and hold the events after it.
	var ev epayment.WebhookEvent
	var till wire.Till
	routed := false
	if err := json.Unmarshal(body, &ev); err == nil && ev.Reference != "" {
		var err error
		if till, routed, err = rl.routes.Lookup(r.Context(), msn, ev.Reference); err != nil {
			// Vipps MobilePay retries a 5xx: by then the tills can be read.
			rl.metrics.Relay(hqmetrics.RelayUnavailable)
			rl.log.Warn("webhook not relayed: the tills cannot be read to route it", "msn", msn, "reference", ev.Reference, "err", err)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "cannot route the webhook now", http.StatusServiceUnavailable)
			return
		}
	}
	subject := wire.UnroutedSubject(rl.chain, msn)
	if routed {
		subject = till.RelaySubject()
	}
	if err := rl.publish(r.Context(), subject, msn, body); err != nil {
		rl.metrics.Relay(hqmetrics.RelayUnavailable)
		rl.log.Warn("webhook not relayed: JetStream did not take it", "msn", msn, "reference", ev.Reference, "err", err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "cannot queue the webhook now", http.StatusServiceUnavailable)
		return
	}
	if routed {
		rl.metrics.Relay(hqmetrics.RelayRouted)
		rl.log.Debug("webhook relayed", "msn", msn, "reference", ev.Reference, "event", ev.Name, "till", till.String())
	} else {
		rl.metrics.Relay(hqmetrics.RelayUnrouted)
		rl.log.Info("webhook of no known till kept on the unrouted subject", "msn", msn, "reference", ev.Reference, "event", ev.Name)
	}
	w.WriteHeader(http.StatusOK)
}

// publish stores body on subject and waits for JetStream's ack. The
// message id is the body's SHA-256: a retry of the same delivery within
// the stream's duplicate window is stored once.
func (rl *Relay) publish(ctx context.Context, subject, msn string, body []byte) error {
	sum := sha256.Sum256(body)
	msg := nats.NewMsg(subject)
	msg.Data = body
	msg.Header.Set(wire.HeaderMSN, msn)
	ctx, cancel := context.WithTimeout(ctx, rl.PublishTimeout)
	defer cancel()
	_, err := rl.js.PublishMsg(ctx, msg, jetstream.WithMsgID(hex.EncodeToString(sum[:])))
	return err
}
