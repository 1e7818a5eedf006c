package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

// Webhook delivery (FACTS.md §7). Every event of every payment is posted to
// each registration subscribed to its type, signed with epayment.SignWebhook;
// x-ms-date is the simulator's clock. A delivery that gets no 2xx answer within
// 10 s (real time) is retried with back-off by the simulator's clock: 2 s four
// times, 60 s, 120 s, hourly up to attempt 29, then daily, 35 attempts in all
// (about 7 days), then given up. Order is kept per registration per payment: a
// failing event holds back the later ones of the same payment. A fixed pool of
// workers, owned by the Server, sends; Close stops them.

const (
	deliveryWorkers     = 4
	deliveryTimeout     = 10 * time.Second
	maxDeliveryAttempts = 35
	maxAttemptLog       = 10000
)

// deliveryBackoff is the wait after the given number of failed attempts.
func deliveryBackoff(failures int) time.Duration {
	switch {
	case failures <= 4:
		return 2 * time.Second
	case failures == 5:
		return time.Minute
	case failures == 6:
		return 2 * time.Minute
	case failures <= 28:
		return time.Hour
	}
	return 24 * time.Hour
}

// DeliveryAttempt is one attempt to deliver a webhook event.
type DeliveryAttempt struct {
	WebhookID    string             `json:"webhookId"`
	URL          string             `json:"url"`
	MSN          string             `json:"msn"`
	Reference    string             `json:"reference"`
	Event        epayment.EventName `json:"event"`
	EventType    string             `json:"eventType"`
	PSPReference string             `json:"pspReference"`
	Attempt      int                `json:"attempt"`          // 1 for the first try
	Status       int                `json:"status"`           // HTTP status; 0 when no answer came
	Error        string             `json:"error,omitempty"`  // why no answer came
	GaveUp       bool               `json:"gaveUp,omitempty"` // the last attempt for this event
	At           time.Time          `json:"at"`               // simulator's clock
}

// queueKey names the ordered queue of one registration for one payment.
type queueKey struct{ regID, msn, reference string }

type deliveryQueue struct {
	key      queueKey
	reg      *registration
	items    []epayment.WebhookEvent
	failures int  // failed attempts of the head item
	ready    bool // in webhookState.ready
	busy     bool // a worker is sending the head item
	waiting  func()
}

// webhookState is the registrations and the delivery queues. Guarded by
// Server.mu, except client and the wake channel.
type webhookState struct {
	regs     []*registration
	queues   map[queueKey]*deliveryQueue
	ready    []*deliveryQueue
	attempts []DeliveryAttempt

	wake        chan struct{}
	client      *http.Client
	own         *http.Transport // the default client's transport, closed by Close
	allowRemote bool
}

func (h *webhookState) init(opts Options) {
	h.queues = make(map[queueKey]*deliveryQueue)
	h.wake = make(chan struct{}, 1)
	h.allowRemote = opts.AllowRemoteWebhooks
	h.client = opts.WebhookClient
	if h.client == nil {
		h.own = newWebhookTransport(opts.AllowRemoteWebhooks)
		h.client = &http.Client{
			Transport: h.own,
			Timeout:   deliveryTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // the real sender does not follow redirects
			},
		}
	}
}

func (h *webhookState) closeIdle() {
	if h.own != nil {
		h.own.CloseIdleConnections()
	}
}

var errRemoteWebhook = errors.New("deliveries to hosts other than loopback are disabled (Options.AllowRemoteWebhooks)")

// newWebhookTransport dials only loopback addresses unless allowRemote.
func newWebhookTransport(allowRemote bool) *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil || allowRemote {
				return conn, err
			}
			if ta, ok := conn.RemoteAddr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
				_ = conn.Close()
				return nil, errRemoteWebhook
			}
			return conn, nil
		},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: deliveryTimeout,
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConnsPerHost:   deliveryWorkers,
	}
}

// enqueueWebhooks queues ev for every registration that wants it.
// Must be called with s.mu held.
func (s *Server) enqueueWebhooks(msn string, ev epayment.PaymentEvent) {
	typ := epayment.WebhookEventType(ev.Name)
	for _, reg := range s.hooks.regs {
		if !reg.wants(msn, typ) {
			continue
		}
		key := queueKey{reg.id, msn, ev.Reference}
		q := s.hooks.queues[key]
		if q == nil {
			q = &deliveryQueue{key: key, reg: reg}
			s.hooks.queues[key] = q
		}
		q.items = append(q.items, epayment.WebhookEvent{
			MSN:            msn,
			Reference:      ev.Reference,
			PSPReference:   ev.PSPReference,
			Name:           ev.Name,
			Amount:         ev.Amount,
			Timestamp:      ev.Timestamp,
			IdempotencyKey: ev.IdempotencyKey,
			Success:        ev.Success,
		})
		s.makeReady(q)
	}
}

// makeReady hands q to the workers unless it is already handed, being sent, or
// waiting for a retry. Must be called with s.mu held.
func (s *Server) makeReady(q *deliveryQueue) {
	if q.ready || q.busy || q.waiting != nil || len(q.items) == 0 {
		return
	}
	q.ready = true
	s.hooks.ready = append(s.hooks.ready, q)
	s.wakeWorkers()
}

func (s *Server) wakeWorkers() {
	select {
	case s.hooks.wake <- struct{}{}:
	default:
	}
}

// dropQueues forgets the deliveries of a deleted registration.
// Must be called with s.mu held.
func (s *Server) dropQueues(reg *registration) {
	for k, q := range s.hooks.queues {
		if q.reg == reg {
			if q.waiting != nil {
				q.waiting()
				q.waiting = nil
			}
			delete(s.hooks.queues, k)
		}
	}
}

func (s *Server) startDeliveryWorkers() {
	s.workers.Add(deliveryWorkers)
	for range deliveryWorkers {
		go s.deliveryWorker()
	}
}

func (s *Server) deliveryWorker() {
	defer s.workers.Done()
	for {
		q, ev := s.nextDelivery()
		if q == nil {
			select {
			case <-s.hooks.wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		status, err := s.deliver(q.reg, ev)
		s.delivered(q, status, err)
		if s.ctx.Err() != nil {
			return
		}
	}
}

// nextDelivery takes the head event of the first ready queue.
func (s *Server) nextDelivery() (*deliveryQueue, epayment.WebhookEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.ctx.Err() == nil && len(s.hooks.ready) > 0 {
		q := s.hooks.ready[0]
		s.hooks.ready[0] = nil
		s.hooks.ready = s.hooks.ready[1:]
		q.ready = false
		if q.reg.deleted || s.hooks.queues[q.key] != q || len(q.items) == 0 {
			continue
		}
		if len(s.hooks.ready) > 0 {
			s.wakeWorkers() // let another worker take the next queue
		}
		q.busy = true
		return q, q.items[0]
	}
	return nil, epayment.WebhookEvent{}
}

// deliver posts one signed event to the registration's URL.
func (s *Server) deliver(reg *registration, ev epayment.WebhookEvent) (int, error) {
	if !s.hooks.allowRemote {
		if u, err := url.Parse(reg.url); err != nil || !isLoopbackHost(u.Hostname()) {
			return 0, errRemoteWebhook
		}
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("encoding the event: %w", err)
	}
	sig, err := epayment.SignWebhook(reg.secret, reg.url, s.now().Format(http.TimeFormat), body)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, deliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, reg.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ctJSON)
	req.Header.Set("User-Agent", "tillbox-sim-webhooks/1")
	sig.Apply(req.Header)
	resp, err := s.hooks.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// delivered records an attempt and moves the queue on: to its next event after
// a 2xx (or a refused remote host, which is never retried), or to a retry after
// the back-off.
func (s *Server) delivered(q *deliveryQueue, status int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q.busy = false
	if q.reg.deleted || s.hooks.queues[q.key] != q {
		return
	}
	ev := q.items[0]
	ok := err == nil && status >= 200 && status < 300
	permanent := errors.Is(err, errRemoteWebhook)
	if !ok && !permanent && s.ctx.Err() != nil {
		return // stopped by Close: not an attempt
	}
	a := DeliveryAttempt{
		WebhookID:    q.reg.id,
		URL:          q.reg.url,
		MSN:          ev.MSN,
		Reference:    ev.Reference,
		Event:        ev.Name,
		EventType:    epayment.WebhookEventType(ev.Name),
		PSPReference: ev.PSPReference,
		Attempt:      q.failures + 1,
		Status:       status,
		At:           s.now(),
	}
	if err != nil {
		a.Error = err.Error()
	}
	if !ok {
		q.failures++
	}
	giveUp := !ok && (permanent || q.failures >= maxDeliveryAttempts)
	a.GaveUp = giveUp
	s.logAttempt(a)

	if ok || giveUp {
		q.items[0] = epayment.WebhookEvent{}
		q.items = q.items[1:]
		q.failures = 0
		if len(q.items) == 0 {
			delete(s.hooks.queues, q.key)
			return
		}
		s.makeReady(q)
		return
	}
	wait := deliveryBackoff(q.failures)
	s.log.Debug("webhook delivery failed", "webhook", q.reg.id, "reference", ev.Reference,
		"event", ev.Name, "attempt", a.Attempt, "status", status, "retryIn", wait)
	q.waiting = s.after(wait, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if q.waiting == nil {
			return
		}
		q.waiting = nil
		if s.hooks.queues[q.key] == q {
			s.makeReady(q)
		}
	})
}

func (s *Server) logAttempt(a DeliveryAttempt) {
	if len(s.hooks.attempts) >= maxAttemptLog {
		s.hooks.attempts = append(s.hooks.attempts[:0], s.hooks.attempts[len(s.hooks.attempts)-maxAttemptLog/2:]...)
	}
	s.hooks.attempts = append(s.hooks.attempts, a)
}

// Deliveries returns every webhook delivery attempt so far (the latest 10000
// at most), oldest first.
func (s *Server) Deliveries() []DeliveryAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DeliveryAttempt(nil), s.hooks.attempts...)
}
