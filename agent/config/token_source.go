package config

// The access token's source (vipps.token_source; issue 15, docs/chain.md):
// the box's own client secret, or headquarters' token broker over the
// link, so that a till holds no client secret.

// Token sources (vipps.token_source).
const (
	TokenSourceAuto = "auto"
	TokenSourceHQ   = "hq"
	TokenSourceBox  = "box"
)

// TokenBroker reports whether the box asks headquarters for its access
// token (token_source "hq", or "auto" with [fleet] on), and whether it
// then falls back on its own client secret when headquarters gives none
// and the token held has expired (a client secret is configured).
func (c *Config) TokenBroker() (broker, fallback bool) {
	v := &c.Vipps
	switch v.TokenSource {
	case TokenSourceBox:
		return false, false
	case TokenSourceHQ:
		return c.FleetOn(), false
	}
	if !c.FleetOn() {
		return false, false
	}
	return true, v.ClientSecret != ""
}

// checkTokenSource checks vipps.token_source against [fleet] and the
// client secret; it reports whether the box makes token calls of its own
// (and so needs client_id and client_secret).
func (c *Config) checkTokenSource(add func(field, format string, a ...any)) (own bool) {
	v := &c.Vipps
	switch v.TokenSource {
	case TokenSourceBox:
		return true
	case TokenSourceHQ:
		if !c.FleetOn() {
			add("vipps.token_source", "is \"hq\", but the link to headquarters is off: set [fleet] servers (and its credentials), or use \"box\" with the sales unit's client_secret")
		}
		if v.ClientSecret != "" {
			add("vipps.client_secret", "is set while token_source is \"hq\", which never uses it: remove it from the box (the point of the broker), or set token_source = \"auto\" to fall back on it when headquarters gives no token")
		}
		return false
	case TokenSourceAuto, "":
		return !c.FleetOn() || v.ClientSecret != ""
	}
	add("vipps.token_source", "%q is not \"auto\", \"hq\" or \"box\"", v.TokenSource)
	return true
}
