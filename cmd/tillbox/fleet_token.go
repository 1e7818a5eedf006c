package main

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// The token broker, the box's side (docs/chain.md): with
// vipps.token_source "hq", or "auto" with [fleet] on, the ePayment client
// takes its access token from headquarters over the link. The client is
// made before the link (open), so its source finds the link when asked.

// hqTokens is the ePayment client's token source: the link, once made.
type hqTokens struct{ link atomic.Pointer[fleet.Link] }

func (h *hqTokens) Token(ctx context.Context, refused epayment.Secret) (epayment.Secret, time.Time, error) {
	l := h.link.Load()
	if l == nil {
		return "", time.Time{}, errors.New("the link to headquarters is not started")
	}
	return l.Token(ctx, refused)
}

// tokenSource sets ec's token source when headquarters gives the token;
// without a fallback the client gets no client secret to fall back on.
func (m *Main) tokenSource(ec *epayment.Config) {
	broker, fallback := m.Config.TokenBroker()
	if !broker {
		return
	}
	m.tokens = &hqTokens{}
	ec.TokenSource = m.tokens
	if !fallback {
		ec.ClientSecret = ""
	}
}

// tokenState is where the access token comes from, for the link's status
// and the heartbeat: never the token.
func (m *Main) tokenState() *fleet.TokenState {
	if m.vipps == nil {
		return nil
	}
	h := m.vipps.Health()
	s := &fleet.TokenState{From: h.TokenFrom, Then: h.Then()}
	if h.HasToken {
		s.Expires = h.TokenExpires.UTC()
	}
	if h.TokenError != "" && h.TokenErrorAt.After(h.TokenRefreshed) {
		s.Error = h.TokenError
	}
	return s
}

// describeToken fills the heartbeat's token source and expiry.
func (m *Main) describeToken(h *wire.Heartbeat) {
	if s := m.tokenState(); s != nil {
		h.TokenSource, h.TokenExpires = s.From, s.Expires
	}
}
