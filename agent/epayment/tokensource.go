package epayment

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// TokenSource hands the client its access token instead of the token call
// with the client secret: headquarters' token broker (issue 15,
// docs/chain.md), so that a till holds no client secret. The client caches
// what it gives as it caches its own tokens (one refresh at a time, renewed
// before expiry, used until it expires when a refresh fails).
type TokenSource interface {
	// Token returns an access token and when it expires. refused, when not
	// empty, is a token the source gave that Vipps MobilePay refused (401):
	// the source must not give it again. An error that wraps
	// [ErrTokenDenied] is a refusal a person must look at (the client
	// reports it as an auth error, [IsAuth]); any other is passing (the
	// client reports it as a call not sent: an outbox keeps the command and
	// tries again, as when Vipps MobilePay is unreachable). Errors never
	// hold a secret.
	Token(ctx context.Context, refused Secret) (Secret, time.Time, error)
}

// ErrTokenDenied marks a [TokenSource]'s refusal: asking again will not
// help until a person mends something.
var ErrTokenDenied = errors.New("access token denied")

// Where the cached token came from ([Health.TokenFrom]); the same words as
// the fleet heartbeat's.
const (
	TokenFromBox = "box" // the token call with the box's own client secret
	TokenFromHQ  = "hq"  // Config.TokenSource (headquarters' broker)
)

// fetched is one refresh's result.
type fetched struct {
	token            Secret
	from             string
	renewAt, expires time.Time
	err              error
}

// refresh gets a new token: from the source when there is one, else (or
// when the source fails, no valid token is held and the client has its own
// client secret) with the token call.
func (c *Client) refresh(ctx context.Context, refused Secret, holdValid bool) fetched {
	if c.cfg.TokenSource == nil {
		tok, renewAt, expires, err := c.fetchToken(ctx)
		return fetched{token: tok, from: TokenFromBox, renewAt: renewAt, expires: expires, err: err}
	}
	asked := c.now()
	tok, expires, err := c.cfg.TokenSource.Token(ctx, refused)
	if err == nil && (tok == "" || !expires.After(asked)) {
		err = errors.New("the token source gave no token, or an expired one")
	}
	if err == nil {
		life := expires.Sub(asked)
		return fetched{token: tok, from: TokenFromHQ, renewAt: expires.Add(-min(tokenMargin, life/10)), expires: expires}
	}
	err = sourceError(ctx, err)
	if holdValid || c.cfg.ClientSecret == "" || ctx.Err() != nil {
		return fetched{err: err}
	}
	// The source gave nothing and no token is held: the box's own secret.
	c.tokens.noteErr(err, c.now())
	c.log.WarnContext(ctx, "the token source gave no access token: the box uses its own client secret", "err", err)
	tok, renewAt, expires, err := c.fetchToken(ctx)
	return fetched{token: tok, from: TokenFromBox, renewAt: renewAt, expires: expires, err: err}
}

// sourcePath names the token source in errors.
const sourcePath = "token source"

// sourceError makes a token source's error one of the client's: a refusal
// an auth error, anything else a call not sent.
func sourceError(ctx context.Context, err error) error {
	if errors.Is(err, ErrTokenDenied) {
		return &Error{Op: OpToken, Method: "from", Path: sourcePath, StatusCode: http.StatusForbidden, Detail: err.Error()}
	}
	return &TransportError{Op: OpToken, Method: "from", Path: sourcePath, Err: err, Canceled: ctx.Err() != nil, Unsent: true}
}
