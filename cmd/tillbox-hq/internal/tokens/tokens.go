// Package tokens is headquarters' token broker (issue 15): it holds each
// sales unit's client id, client secret and subscription key, fetches and
// caches the unit's Vipps MobilePay access token (an epayment.Client per
// unit: one shared fetch, renewed before it expires, its life read from
// the answer: 24 h in production, 1 h in test), and answers the boxes'
// requests on wire.TokenSubjects in the queue group wire.TokenQueue with
// the token of a unit their store may use. The contract is package wire's
// (token.go); docs/chain.md ("Token broker (headquarters)") tells the
// whole story.
//
// The client secret never leaves this package's clients; the token goes
// only into the reply, on the asking box's own inbox. Neither is logged.
package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Results of a token request, the label of tillbox_hq_token_requests_total.
const (
	ResultOK          = "ok"                 // a token handed out
	ResultNotAllowed  = wire.TokenNotAllowed // no such unit with credentials, or the store may not use it
	ResultRefused     = wire.TokenRefused    // Vipps MobilePay refused headquarters' credentials
	ResultUnavailable = wire.TokenUnavailable
	ResultBadRequest  = "bad_request" // an unreadable request (answered not_allowed)
)

// Unit is one sales unit the broker may hand tokens of.
type Unit struct {
	MSN string
	// Stores may use the unit's token; empty: every store of the chain.
	Stores []string
	// Vipps is the unit's client configuration; a zero ClientSecret: the
	// unit has no credentials at headquarters (its tills get not_allowed).
	Vipps epayment.Config
}

// Options are what a Broker needs.
type Options struct {
	NC    *nats.Conn
	Chain string
	Log   *slog.Logger // nil: discard
	// Fetch bounds one request's wait for Vipps MobilePay (default 10 s).
	Fetch time.Duration
	// Warm is how often every unit's token is checked and renewed ahead
	// of the boxes' asking (default 1 minute).
	Warm time.Duration
	// Workers answer requests at once (default 8): a request waiting for
	// Vipps MobilePay does not hold up the others.
	Workers int
	Now     func() time.Time // nil: time.Now
}

// Broker answers the boxes' token requests. It is safe for concurrent use.
type Broker struct {
	o        Options
	log      *slog.Logger
	requests *prometheus.CounterVec
	kick     chan struct{} // SetUnits asks the warm loop to look now

	mu    sync.Mutex
	units map[string]*unit
}

// unit is a Unit with its client and what became of its last fetch.
type unit struct {
	Unit
	client *epayment.Client // nil: no credentials

	mu       sync.Mutex
	lastErr  string    // the last fetch's failure code (refused, unavailable); "" after a success
	forcedAt time.Time // the last fetch a box's refused token (After) forced
}

// refetchEvery bounds the fetches that boxes' refused tokens (After) force:
// one per unit in this time, so that a box cannot make headquarters fetch
// a token per request; within it the cached token is handed out.
const refetchEvery = 10 * time.Second

// New returns a broker of units (see SetUnits).
func New(o Options, units []Unit) (*Broker, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Fetch <= 0 {
		o.Fetch = 10 * time.Second
	}
	if o.Warm <= 0 {
		o.Warm = time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &Broker{o: o, log: o.Log, kick: make(chan struct{}, 1), units: map[string]*unit{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillbox_hq_token_requests_total",
			Help: "Boxes' requests for an access token, by result: ok, not_allowed, refused, unavailable, bad_request.",
		}, []string{"result"}),
	}
	for _, r := range []string{ResultOK, ResultNotAllowed, ResultRefused, ResultUnavailable, ResultBadRequest} {
		b.requests.WithLabelValues(r)
	}
	if err := b.SetUnits(units); err != nil {
		return nil, err
	}
	return b, nil
}

// Collector is the broker's counter for /metrics.
func (b *Broker) Collector() prometheus.Collector { return b.requests }

// SetUnits replaces the units (a reload of the configuration). A unit
// whose host and keys are unchanged keeps its client and cached token; a
// changed one gets a new client, so that the next token comes from the
// new secret (tokens handed out before stay valid until they expire). On
// an error nothing changes.
func (b *Broker) SetUnits(units []Unit) error {
	b.mu.Lock()
	old := b.units
	b.mu.Unlock()
	next := make(map[string]*unit, len(units))
	for _, u := range units {
		if _, dup := next[u.MSN]; dup {
			return fmt.Errorf("tokens: sales unit %s twice", u.MSN)
		}
		nu := &unit{Unit: u}
		nu.Stores = slices.Clone(u.Stores)
		if u.Vipps.ClientSecret != "" {
			if o := old[u.MSN]; o != nil && o.client != nil && sameKeys(o.Vipps, u.Vipps) {
				nu.client, nu.lastErr = o.client, o.failure()
			} else {
				c := u.Vipps
				c.Logger, c.Now = b.log.With("msn", u.MSN), b.o.Now
				cl, err := epayment.New(c)
				if err != nil {
					return fmt.Errorf("tokens: sales unit %s: %w", u.MSN, err)
				}
				nu.client = cl
			}
		}
		next[u.MSN] = nu
	}
	b.mu.Lock()
	b.units = next
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return nil
}

// sameKeys tells whether a and b fetch tokens from the same host with the
// same keys.
func sameKeys(a, b epayment.Config) bool {
	return a.BaseURL == b.BaseURL && a.ClientID == b.ClientID && a.ClientSecret == b.ClientSecret &&
		a.SubscriptionKey == b.SubscriptionKey
}

func (u *unit) failure() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastErr
}

// force tells whether a refused token may force a fetch at now (and
// counts it).
func (u *unit) force(now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.forcedAt.IsZero() && now.Sub(u.forcedAt) < refetchEvery {
		return false
	}
	u.forcedAt = now
	return true
}

func (u *unit) note(code string) {
	u.mu.Lock()
	u.lastErr = code
	u.mu.Unlock()
}

func (b *Broker) unit(msn string) *unit {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.units[msn]
}

// Run answers the token requests until ctx ends, and keeps every unit's
// token fresh. The NATS connection need not be up yet (a failed
// subscription is tried again). It returns ctx.Err() or nil when ctx ends.
func (b *Broker) Run(ctx context.Context) error {
	msgs := make(chan *nats.Msg, 1024)
	var sub *nats.Subscription
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		var err error
		if sub, err = b.o.NC.ChanQueueSubscribe(wire.TokenSubjects(b.o.Chain), wire.TokenQueue, msgs); err == nil {
			break
		}
		b.log.Warn("token broker: subscribing failed: trying again", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	defer func() { _ = sub.Unsubscribe() }()
	var wg sync.WaitGroup
	for range b.o.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-msgs:
					b.serve(ctx, m)
				}
			}
		})
	}
	wg.Go(func() { b.warm(ctx) })
	b.log.Info("token broker answering", "subject", wire.TokenSubjects(b.o.Chain), "queue", wire.TokenQueue)
	wg.Wait()
	return nil
}

// serve answers one request on its reply subject.
func (b *Broker) serve(ctx context.Context, m *nats.Msg) {
	r := b.Answer(ctx, m.Subject, m.Data)
	if m.Reply == "" {
		return
	}
	if err := m.Respond(r.Marshal()); err != nil {
		b.log.Warn("token reply not sent", "subject", m.Subject, "err", err)
	}
}

// Answer is the reply to a request with data on subject (a box's token
// subject). It counts and logs the result, never the token.
func (b *Broker) Answer(ctx context.Context, subject string, data []byte) wire.TokenReply {
	r, result, till := b.answer(ctx, subject, data)
	b.requests.WithLabelValues(result).Inc()
	attrs := []any{"till", till.String(), "msn", r.MSN, "result", result}
	if r.Code == "" {
		b.log.Info("token handed out", append(attrs, "expires", r.ExpiresAt.UTC().Format(time.RFC3339))...)
	} else {
		b.log.Warn("token refused", append(attrs, "why", r.Message)...)
	}
	return r
}

func (b *Broker) answer(ctx context.Context, subject string, data []byte) (wire.TokenReply, string, wire.Till) {
	kind, till, err := wire.ParseSubject(subject)
	if err == nil && (kind != wire.KindToken || till.Chain != b.o.Chain) {
		err = errors.New("not a token subject of this chain")
	}
	var req wire.TokenRequest
	if err == nil {
		err = json.Unmarshal(data, &req)
	}
	if err != nil {
		return wire.TokenReply{MSN: req.MSN, Code: wire.TokenNotAllowed,
			Message: "headquarters cannot read this token request"}, ResultBadRequest, till
	}
	no := func(code, format string, args ...any) (wire.TokenReply, string, wire.Till) {
		return wire.TokenReply{MSN: req.MSN, Code: code, Message: fmt.Sprintf(format, args...)}, code, till
	}
	u := b.unit(req.MSN)
	switch {
	case u == nil || u.client == nil:
		return no(wire.TokenNotAllowed, "headquarters holds no credentials for sales unit %q", req.MSN)
	case len(u.Stores) > 0 && !slices.Contains(u.Stores, till.Store):
		return no(wire.TokenNotAllowed, "store %s may not use sales unit %s", till.Store, req.MSN)
	}
	tok, exp, err := b.fetch(ctx, u, req.After)
	switch {
	case epayment.IsAuth(err):
		return no(wire.TokenRefused, "Vipps MobilePay refuses headquarters' credentials for sales unit %s: a person at headquarters must look", req.MSN)
	case err != nil:
		return no(wire.TokenUnavailable, "headquarters cannot get a token for sales unit %s from Vipps MobilePay now: ask again later", req.MSN)
	}
	return wire.TokenReply{MSN: req.MSN, Token: tok.Reveal(), ExpiresAt: exp}, ResultOK, till
}

// fetch returns u's token, a new one when the cached one expires no later
// than after (the box's refused token) and was not just fetched.
func (b *Broker) fetch(ctx context.Context, u *unit, after time.Time) (epayment.Secret, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.Fetch)
	defer cancel()
	tok, exp, err := u.client.AccessToken(ctx, "")
	if err == nil && !after.IsZero() && !exp.After(after) && u.force(b.o.Now()) {
		b.log.Info("a box says Vipps MobilePay refused the unit's token: fetching a new one", "msn", u.MSN)
		tok, exp, err = u.client.AccessToken(ctx, tok)
	}
	b.noteFetch(u, err)
	return tok, exp, err
}

// noteFetch remembers how u's last fetch ended, and logs a change.
func (b *Broker) noteFetch(u *unit, err error) {
	code := ""
	switch {
	case err == nil:
	case epayment.IsAuth(err):
		code = wire.TokenRefused
	default:
		code = wire.TokenUnavailable
	}
	if prev := u.failure(); prev != code {
		if code == "" {
			b.log.Info("Vipps MobilePay gives headquarters the unit's token again", "msn", u.MSN)
		} else {
			b.log.Warn("headquarters cannot get the unit's token", "msn", u.MSN, "why", code, "err", err)
		}
	}
	u.note(code)
}

// warm checks every unit's token every o.Warm (and after SetUnits), so
// that it is renewed before it expires and the fleet page knows whether
// headquarters has one.
func (b *Broker) warm(ctx context.Context) {
	t := time.NewTicker(b.o.Warm)
	defer t.Stop()
	for {
		b.mu.Lock()
		units := make([]*unit, 0, len(b.units))
		for _, u := range b.units {
			if u.client != nil {
				units = append(units, u)
			}
		}
		b.mu.Unlock()
		for _, u := range units {
			if ctx.Err() != nil {
				return
			}
			_, _, _ = b.fetch(ctx, u, time.Time{})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.kick:
		}
	}
}

// Available tells whether headquarters can hand a till of store the token
// of sales unit msn now, and if not, why (for the fleet page; no secret).
func (b *Broker) Available(store, msn string) (bool, string) {
	u := b.unit(msn)
	switch {
	case u == nil || u.client == nil:
		return false, fmt.Sprintf("headquarters holds no credentials for sales unit %s", msn)
	case len(u.Stores) > 0 && !slices.Contains(u.Stores, store):
		return false, fmt.Sprintf("store %s may not use sales unit %s", store, msn)
	}
	if u.client.Health().HasToken {
		return true, ""
	}
	switch u.failure() {
	case wire.TokenRefused:
		return false, fmt.Sprintf("Vipps MobilePay refuses headquarters' credentials for sales unit %s", msn)
	case wire.TokenUnavailable:
		return false, fmt.Sprintf("headquarters cannot reach Vipps MobilePay for sales unit %s", msn)
	}
	return true, "" // not asked yet
}
