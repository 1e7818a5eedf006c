package epayment

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// tokenCache holds the access token and shares one refresh between
// concurrent callers.
type tokenCache struct {
	mu       sync.Mutex
	token    Secret
	from     string // where token came from: TokenFromBox or TokenFromHQ
	renewAt  time.Time
	retryAt  time.Time     // after a failed refresh: keep the valid token until then
	refused  Secret        // a source's token Vipps MobilePay refused (401): say so when asking again
	inflight chan struct{} // closed when the running refresh ends

	// For Health: never the token itself.
	expires   time.Time // when token expires
	refreshed time.Time // when token was fetched
	lastErr   string    // the last failed refresh's error
	lastErrAt time.Time
}

// Refresh a token this long before it expires, or at a tenth of its life
// if that is shorter.
const tokenMargin = 5 * time.Minute

// After a refresh failed while the token is still valid, the token is used
// without asking again for this long, or a quarter of its remaining life
// if that is shorter.
const tokenRetry = 15 * time.Second

// get returns a valid token, fetching one if there is none or it is about to
// expire. Callers that arrive during a refresh wait for it, unless the
// token is still valid: they take it. A refresh that fails while the token
// is still valid leaves it in use until it expires (headquarters or Vipps
// MobilePay down for a while: the box goes on with what it holds).
func (t *tokenCache) get(ctx context.Context, c *Client) (Secret, time.Time, error) {
	for {
		t.mu.Lock()
		now := c.now()
		valid := t.token != "" && now.Before(t.expires)
		if valid && (now.Before(t.renewAt) || now.Before(t.retryAt) || t.inflight != nil) {
			tok, exp := t.token, t.expires
			t.mu.Unlock()
			return tok, exp, nil
		}
		if wait := t.inflight; wait != nil {
			t.mu.Unlock()
			select {
			case <-wait:
				continue // the refresh ended; take its token, or refresh anew if it failed
			case <-ctx.Done():
				return "", time.Time{}, &TransportError{Op: OpToken, Method: http.MethodPost, Path: "/accesstoken/get", Err: ctx.Err(), Canceled: true}
			}
		}
		done := make(chan struct{})
		t.inflight = done
		refused := t.refused
		t.mu.Unlock()

		f := c.refresh(ctx, refused, valid)

		t.mu.Lock()
		now = c.now()
		if f.err == nil {
			t.token, t.from, t.renewAt, t.retryAt, t.refused = f.token, f.from, f.renewAt, time.Time{}, ""
			t.expires, t.refreshed = f.expires, now
		} else if !isCanceled(f.err) {
			t.lastErr, t.lastErrAt = f.err.Error(), now
		}
		tok, exp, err := f.token, f.expires, f.err
		if err != nil && t.token != "" && now.Before(t.expires) {
			// Go on with the token held until it expires; ask again later.
			t.retryAt = now.Add(min(tokenRetry, t.expires.Sub(now)/4))
			tok, exp, err = t.token, t.expires, nil
		}
		t.inflight = nil
		close(done)
		t.mu.Unlock()
		return tok, exp, err
	}
}

// noteErr records a failed attempt that another one made good (a token
// source's failure before the box's own secret): the technician still sees it.
func (t *tokenCache) noteErr(err error, at time.Time) {
	if err == nil || isCanceled(err) {
		return
	}
	t.mu.Lock()
	t.lastErr, t.lastErrAt = err.Error(), at
	t.mu.Unlock()
}

// invalidate drops tok if it is still the cached token, so that the next get
// fetches a new one (after a 401).
func (t *tokenCache) invalidate(tok Secret) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == tok {
		if t.from == TokenFromHQ {
			t.refused = tok
		}
		t.token, t.retryAt = "", time.Time{}
	}
}

// OpToken is the operation of the token call, in errors and CallInfo.
const OpToken = "accessToken"

// fetchToken calls POST /accesstoken/get.
func (c *Client) fetchToken(ctx context.Context) (Secret, time.Time, time.Time, error) {
	var r TokenResponse
	asked := c.now()
	cl := call{op: OpToken, method: http.MethodPost, path: "/accesstoken/get", out: &r}
	err := c.send(ctx, cl, nil, "")
	if err != nil {
		return "", time.Time{}, time.Time{}, err
	}
	bad := func(what string) error {
		return &DecodeError{Op: cl.op, Method: cl.method, Path: cl.path, StatusCode: http.StatusOK, Err: errors.New(what)}
	}
	if r.AccessToken == "" {
		return "", time.Time{}, time.Time{}, bad("answer has no access_token")
	}
	// Count the lifetime from when we asked, by our own clock: expires_in
	// does not depend on the two clocks agreeing; expires_on is the fallback.
	var expires time.Time
	if s, err := strconv.ParseInt(r.ExpiresIn, 10, 64); err == nil && s > 0 {
		expires = asked.Add(time.Duration(s) * time.Second)
	} else if s, err := strconv.ParseInt(r.ExpiresOn, 10, 64); err == nil && s > 0 {
		expires = time.Unix(s, 0)
	} else {
		return "", time.Time{}, time.Time{}, bad("answer has neither expires_in nor expires_on")
	}
	life := expires.Sub(asked)
	return Secret(r.AccessToken), expires.Add(-min(tokenMargin, life/10)), expires, nil
}

// CheckCredentials fetches an access token now, whatever is cached: a check
// of the client id, client secret and subscription key (tillbox doctor), or
// of the token source when there is one. IsAuth tells a refusal of them
// from a failure to ask.
func (c *Client) CheckCredentials(ctx context.Context) error {
	if c.cfg.TokenSource != nil {
		if _, _, err := c.cfg.TokenSource.Token(ctx, ""); err != nil {
			return sourceError(ctx, err)
		}
		return nil
	}
	_, _, _, err := c.fetchToken(ctx)
	return err
}

// AccessToken returns the cached access token and when it expires,
// fetching a new one when there is none or it is about to expire: what
// headquarters' token broker hands a box (issue 15). refused, when not
// empty, is a token Vipps MobilePay refused: it is dropped first, so that
// a new one is fetched.
func (c *Client) AccessToken(ctx context.Context, refused Secret) (Secret, time.Time, error) {
	if refused != "" {
		c.tokens.invalidate(refused)
	}
	return c.tokens.get(ctx, c)
}
