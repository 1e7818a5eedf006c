package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// The token broker, the box's side (wire/token.go, docs/chain.md): a box
// without the sales unit's client secret asks headquarters for its access
// token with a plain core request on its token subject; the reply comes on
// the box's own inbox. [Link.Token] is an [epayment.TokenSource]: the
// ePayment client caches what it gives, renews it before it expires, and
// goes on with it while headquarters does not answer.

// tokenHeld is the last token headquarters gave, to tell headquarters
// which one Vipps MobilePay refused (by its expiry: the request carries no
// token).
type tokenHeld struct {
	token   epayment.Secret
	expires time.Time
	denied  string // the last refusal logged
}

// Token asks headquarters for the access token of Options.MSN. refused,
// when not empty, is a token Vipps MobilePay refused: when it is the last
// one headquarters gave, the request says so (TokenRequest.After) and
// headquarters fetches a new one. A reply with TokenNotAllowed or
// TokenRefused is an error that wraps [epayment.ErrTokenDenied] (a person
// must look); no answer, TokenUnavailable or a link that is down are
// passing errors. Neither the token nor any other secret is logged.
func (l *Link) Token(ctx context.Context, refused epayment.Secret) (epayment.Secret, time.Time, error) {
	msn := l.o.MSN
	if msn == "" {
		return "", time.Time{}, errors.New("headquarters' token broker: the link has no MSN to ask for")
	}
	nc, err := l.tokenConn(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	req := wire.TokenRequest{MSN: msn}
	l.mu.Lock()
	if refused != "" && refused == l.token.token {
		req.After = l.token.expires
	}
	l.mu.Unlock()
	data, err := json.Marshal(req)
	if err != nil {
		return "", time.Time{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
	defer cancel()
	m, err := nc.RequestWithContext(rctx, l.o.Till.TokenSubject(), data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return "", time.Time{}, errors.New("headquarters' token broker does not answer (no responder)")
	case err != nil && rctx.Err() != nil && ctx.Err() == nil:
		return "", time.Time{}, fmt.Errorf("headquarters' token broker did not answer within %s", l.o.Timeout)
	case err != nil:
		return "", time.Time{}, fmt.Errorf("headquarters' token broker: %w", redactErr(err))
	}
	return l.tokenReply(msn, m.Data)
}

// tokenReply reads headquarters' answer.
func (l *Link) tokenReply(msn string, data []byte) (epayment.Secret, time.Time, error) {
	var r wire.TokenReply
	if err := json.Unmarshal(data, &r); err != nil {
		return "", time.Time{}, errors.New("headquarters' token broker: an answer that is not a token reply")
	}
	if err := r.Check(msn, time.Now()); err != nil {
		return "", time.Time{}, fmt.Errorf("headquarters' token broker: %w", err)
	}
	switch r.Code {
	case "":
		tok := epayment.Secret(r.Token)
		l.mu.Lock()
		l.token = tokenHeld{token: tok, expires: r.ExpiresAt}
		l.mu.Unlock()
		return tok, r.ExpiresAt, nil
	case wire.TokenNotAllowed, wire.TokenRefused:
		err := fmt.Errorf("%w by headquarters (%s) for sales unit %s: %s", epayment.ErrTokenDenied, r.Code, msn, r.Message)
		l.mu.Lock()
		repeated := l.token.denied == err.Error()
		l.token.denied = err.Error()
		l.mu.Unlock()
		if !repeated {
			l.log.Warn("headquarters gives no access token: a person at headquarters must look", "err", err)
		}
		return "", time.Time{}, err
	}
	return "", time.Time{}, fmt.Errorf("headquarters has no token for sales unit %s now (%s): %s", msn, r.Code, r.Message)
}

// tokenConnWait bounds the wait for a link that is connecting.
const tokenConnWait = 3 * time.Second

// tokenConn is the connection to ask on: the current one when up; else,
// within tokenConnWait (or Options.Timeout if shorter) of the link's
// start or of its last change (it may be connecting), the one it gets by
// then. A link down for longer fails at once: the token held is used
// meanwhile, or the box's own secret, or the calls wait.
func (l *Link) tokenConn(ctx context.Context) (*nats.Conn, error) {
	l.mu.Lock()
	nc, up, since := l.conn, l.connected, l.since
	l.mu.Unlock()
	if up && nc != nil {
		return nc, nil
	}
	left := min(l.o.Timeout, tokenConnWait) - time.Since(since)
	if left <= 0 {
		return nil, fmt.Errorf("headquarters not connected since %s", since.UTC().Format(time.RFC3339))
	}
	wctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	if _, ok := l.waitConnected(wctx); !ok {
		return nil, errors.New("headquarters not connected")
	}
	l.mu.Lock()
	nc = l.conn
	l.mu.Unlock()
	if nc == nil {
		return nil, errors.New("headquarters not connected")
	}
	return nc, nil
}

// TokenState is where the box's access token comes from, for the link's
// status (set by cmd/tillbox from the ePayment client's health): never
// the token.
type TokenState struct {
	From    string    `json:"from,omitempty"` // wire.TokenFromBox or wire.TokenFromHQ; "": none yet
	Expires time.Time `json:"expires,omitzero"`
	// Then is what happens when it expires and headquarters gives no
	// new one: "own secret" or "payments wait"; "" when the box uses its
	// own secret only.
	Then  string `json:"then,omitempty"`
	Error string `json:"error,omitempty"` // the last failed refresh, without secrets
}

// TokenProbe is a token source for `tillbox doctor`: each Token connects
// once with o's servers and credentials (no retry), asks headquarters for
// the token of o.MSN, and disconnects.
func TokenProbe(o Options) epayment.TokenSource { return tokenProbe{o} }

type tokenProbe struct{ o Options }

func (p tokenProbe) Token(ctx context.Context, refused epayment.Secret) (epayment.Secret, time.Time, error) {
	o, err := p.o.withDefaults()
	if err != nil {
		return "", time.Time{}, err
	}
	l := &Link{o: o, log: o.Logger, state: newSignal()}
	opts := append(l.natsOptions(make(chan struct{})), nats.RetryOnFailedConnect(false), nats.NoReconnect())
	nc, err := nats.Connect(joinServers(o.Servers), opts...)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("headquarters: %w", redactErr(err))
	}
	defer nc.Close()
	l.mu.Lock()
	l.conn, l.connected = nc, true
	l.mu.Unlock()
	return l.Token(ctx, refused)
}
