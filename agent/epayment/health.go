package epayment

import (
	"errors"
	"net/http"
	"sync"
	"time"
)

// Health is what the client knows of its access token and of the clock of
// the Vipps MobilePay hosts, for the technician page. It never holds the
// token.
type Health struct {
	// HasToken: a token is cached and has not expired.
	HasToken bool
	// TokenExpires is when the cached token expires; TokenRefreshed when
	// it was fetched (both zero before the first).
	TokenExpires   time.Time
	TokenRefreshed time.Time
	// TokenFrom is where the cached token came from: TokenFromBox or
	// TokenFromHQ ("" before the first).
	TokenFrom string
	// Source: the client has a TokenSource. Fallback: it also has its own
	// client secret, used when the source gives no token once the held one
	// has expired; without it, calls wait (an outbox keeps them).
	Source   bool
	Fallback bool
	// TokenError is the error of the last refresh that failed, at
	// TokenErrorAt; it stays after a later success (compare the times).
	TokenError   string
	TokenErrorAt time.Time
	// ServerDate is the Date header of the latest answer, and
	// ServerDateAt the client's clock when that answer came: their
	// difference is how far the local clock is off (to within a second, the
	// header's resolution, plus the round trip). Zero before any answer.
	ServerDate   time.Time
	ServerDateAt time.Time
}

// serverClock is the latest Date header seen.
type serverClock struct {
	mu     sync.Mutex
	date   time.Time
	seenAt time.Time
}

func (s *serverClock) note(h http.Header, now time.Time) {
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return
	}
	s.mu.Lock()
	s.date, s.seenAt = d, now
	s.mu.Unlock()
}

// Then says what happens when the token expires and no new one comes:
// "own secret" (the box falls back on its client secret), "payments wait"
// (calls wait for a token, an outbox keeps them), or "" without a source.
func (h Health) Then() string {
	switch {
	case h.Fallback:
		return "own secret"
	case h.Source:
		return "payments wait"
	}
	return ""
}

// Health reports the token cache and the latest server clock.
func (c *Client) Health() Health {
	var h Health
	c.tokens.mu.Lock()
	h.HasToken = c.tokens.token != "" && c.now().Before(c.tokens.expires)
	h.TokenExpires, h.TokenRefreshed, h.TokenFrom = c.tokens.expires, c.tokens.refreshed, c.tokens.from
	h.TokenError, h.TokenErrorAt = c.tokens.lastErr, c.tokens.lastErrAt
	c.tokens.mu.Unlock()
	h.Source = c.cfg.TokenSource != nil
	h.Fallback = h.Source && c.cfg.ClientSecret != ""
	c.clock.mu.Lock()
	h.ServerDate, h.ServerDateAt = c.clock.date, c.clock.seenAt
	c.clock.mu.Unlock()
	return h
}

// isCanceled reports an error of a call whose context ended: not the
// token's fault.
func isCanceled(err error) bool {
	var te *TransportError
	return errors.As(err, &te) && te.Canceled
}
