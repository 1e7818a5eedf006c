package sim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tillbox/tillbox/agent/epayment"
)

// The Webhooks API (FACTS.md §7): register, list, delete.
//
// URLs: https on the common ports 443, 80 or 8080 (FACTS.md §7). Deviation:
// on a loopback host (127.0.0.0/8, ::1, localhost) http is taken too, and any
// port, so that tests can receive deliveries from an httptest.Server.
//
// Event types: the eight ePayment types (epayments.payment.<name>.v1, see
// epayment.WebhookEventType) and the QR API's user.checked-in.v1; anything
// else, a typo included, is a 400 naming the type.
//
// A registration made with a Merchant-Serial-Number header (or under a pinned
// Options.MSN) gets the events of that MSN's payments; one made without gets
// the events of every MSN.

const (
	maxWebhooksPerEvent    = 25
	maxCheckInWebhooks     = 1 // user.checked-in.v1
	checkInEventType       = "user.checked-in.v1"
	webhookSecretByteCount = 64
)

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// knownEventTypes are the event types a registration may name.
var knownEventTypes = func() map[string]bool {
	m := map[string]bool{checkInEventType: true}
	for _, n := range []epayment.EventName{epayment.EventCreated, epayment.EventAuthorized, epayment.EventAborted, epayment.EventExpired,
		epayment.EventCancelled, epayment.EventCaptured, epayment.EventRefunded, epayment.EventTerminated} {
		m[epayment.WebhookEventType(n)] = true
	}
	return m
}()

// webhookPorts are the ports a non-loopback webhook URL may use.
var webhookPorts = map[string]bool{"": true, "443": true, "80": true, "8080": true}

type registration struct {
	id      string
	url     string
	secret  string
	msn     string // "" = every MSN
	events  []string
	deleted bool
}

func (r *registration) wants(msn, eventType string) bool {
	return !r.deleted && (r.msn == "" || r.msn == msn) && slices.Contains(r.events, eventType)
}

// inScope reports whether the caller with this MSN ("" = any) sees r.
func (r *registration) inScope(msn string) bool {
	return msn == "" || r.msn == "" || r.msn == msn
}

// handleRegisterWebhook is POST /webhooks/v1/webhooks.
func (s *Server) handleRegisterWebhook(c *call) *reply {
	var req epayment.RegisterWebhookRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		return c.invalid(typeErrorField(err))
	}
	if reason := checkWebhookURL(req.URL); reason != "" {
		return c.invalid(field{"url", reason})
	}
	if len(req.Events) == 0 {
		return c.invalid(field{"events", "At least one event is required."})
	}
	var events []string
	for _, e := range req.Events {
		if !knownEventTypes[e] {
			return c.invalid(field{"events", "Unknown event type " + strconv.Quote(e) + "."})
		}
		if !slices.Contains(events, e) {
			events = append(events, e)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		limit := maxWebhooksPerEvent
		if e == checkInEventType {
			limit = maxCheckInWebhooks
		}
		n := 0
		for _, r := range s.hooks.regs {
			if r.inScope(c.msn) && slices.Contains(r.events, e) {
				n++
			}
		}
		if n >= limit {
			return c.invalid(field{"events", "Too many webhooks are registered for " + e + "."})
		}
	}
	var secret [webhookSecretByteCount]byte
	_, _ = rand.Read(secret[:])
	reg := &registration{
		id:     newUUID(),
		url:    req.URL,
		secret: base64.StdEncoding.EncodeToString(secret[:]),
		msn:    c.msn,
		events: events,
	}
	s.hooks.regs = append(s.hooks.regs, reg)
	return jsonReply(http.StatusCreated, ctJSON, epayment.RegisterWebhookResponse{ID: reg.id, Secret: reg.secret})
}

// checkWebhookURL explains what is wrong with a webhook URL, or returns "".
func checkWebhookURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "The url field is required."
	case err != nil || u.Host == "" || !u.IsAbs():
		return "The url must be an absolute URL."
	case u.User != nil || u.Fragment != "":
		return "The url must not carry user information or a fragment."
	case (strings.EqualFold(u.Scheme, "https") || strings.EqualFold(u.Scheme, "http")) && isLoopbackHost(u.Hostname()):
		return "" // deviation: loopback http(s) on any port, for tests
	case !strings.EqualFold(u.Scheme, "https"):
		return "The url must use HTTPS."
	case !webhookPorts[u.Port()]:
		return "The url must use port 443, 80 or 8080."
	}
	return ""
}

// isLoopbackHost reports whether host (no port) is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// handleListWebhooks is GET /webhooks/v1/webhooks.
func (s *Server) handleListWebhooks(c *call) *reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := epayment.WebhookList{Webhooks: []epayment.Webhook{}}
	for _, r := range s.hooks.regs {
		if r.inScope(c.msn) {
			list.Webhooks = append(list.Webhooks, epayment.Webhook{ID: r.id, URL: r.url, Events: slices.Clone(r.events)})
		}
	}
	return jsonReply(http.StatusOK, ctJSON, list)
}

// handleDeleteWebhook is DELETE /webhooks/v1/webhooks/{id}. Deliveries still
// queued for the registration are dropped.
func (s *Server) handleDeleteWebhook(c *call) *reply {
	id := c.r.PathValue("id")
	if !uuidPattern.MatchString(id) {
		return c.invalid(field{"id", "The id must be a UUID."})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.hooks.regs, func(r *registration) bool {
		return strings.EqualFold(r.id, id) && r.inScope(c.msn)
	})
	if i < 0 {
		return c.problem(http.StatusNotFound, "", "Not Found", "No webhook with this id.")
	}
	reg := s.hooks.regs[i]
	reg.deleted = true
	s.hooks.regs = slices.Delete(s.hooks.regs, i, i+1)
	s.dropQueues(reg)
	return emptyReply(http.StatusNoContent)
}
