package wire

// The token broker (issue 15, part 1): a box whose configuration holds no
// client secret asks headquarters for the Vipps MobilePay access token of
// its sales unit with a NATS request on its token subject,
//
//	tillbox.<chain>.token.<store>.<till>
//
// and headquarters answers on the request's reply subject (the box's own
// inbox: no other box can read it). Headquarters holds each sales unit's
// client id, client secret and subscription key, fetches and caches the
// unit's token, and hands a till only the token of a unit that the till's
// store may use. The client secret never leaves headquarters' process; the
// token travels only in the reply, never in a stream, a bucket, a log or a
// page. The box still sends its subscription key on each ePayment call, as
// the API requires: that key stays in the box's configuration.

import (
	"encoding/json"
	"fmt"
	"time"
)

// KindToken is the kind of the token subjects.
const KindToken = "token"

// TokenSubject is where box t asks headquarters for its access token.
func (t Till) TokenSubject() string { return t.subject(KindToken) }

// TokenSubjects are the token subjects of every till of chain:
// headquarters subscribes to them (in a queue group, [TokenQueue]).
func TokenSubjects(chain string) string { return "tillbox." + chain + "." + KindToken + ".*.*" }

// TokenQueue is the queue group headquarters' processes answer token
// requests in: one of them answers each.
const TokenQueue = "tillbox-hq-token"

// TokenRequest is a box's request for its sales unit's token.
type TokenRequest struct {
	// MSN is the sales unit the box takes payments for.
	MSN string `json:"msn"`
	// After, when set, is the expiry of a token the box holds and Vipps
	// MobilePay refused (401): headquarters must not answer with that
	// token again but fetch a new one.
	After time.Time `json:"after,omitzero"`
}

// Token reply codes: why headquarters gave no token.
const (
	// TokenNotAllowed: the till's store may not use that sales unit (or
	// headquarters has no such unit). Asking again will not help.
	TokenNotAllowed = "not_allowed"
	// TokenRefused: Vipps MobilePay refused headquarters' credentials for
	// the unit. A person at headquarters must look.
	TokenRefused = "refused"
	// TokenUnavailable: headquarters could not get a token now (Vipps
	// MobilePay unreachable, or failing): ask again later.
	TokenUnavailable = "unavailable"
)

// TokenReply is headquarters' answer: a token with its expiry, or a code
// with a message for the technician (never a secret).
type TokenReply struct {
	MSN string `json:"msn"`
	// Token is the access token (a secret: never logged nor shown).
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	Code      string    `json:"code,omitempty"`
	Message   string    `json:"message,omitempty"`
}

// Check tells whether r is a usable answer to a request for msn: a token
// with a future expiry (at now), or a code.
func (r TokenReply) Check(msn string, now time.Time) error {
	if r.MSN != msn {
		return fmt.Errorf("token reply for sales unit %q, asked for %q", r.MSN, msn)
	}
	switch {
	case r.Code != "" && r.Token != "":
		return fmt.Errorf("token reply with both a token and code %q", r.Code)
	case r.Code != "":
		return nil
	case r.Token == "":
		return fmt.Errorf("token reply with neither a token nor a code")
	case !r.ExpiresAt.After(now):
		return fmt.Errorf("token reply with a token expired at %s", r.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// Marshal encodes r.
func (r TokenReply) Marshal() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // strings and a time always encode
	}
	return b
}

// Where a box's access token comes from (Heartbeat.TokenSource).
const (
	TokenFromBox = "box" // the box's own client secret
	TokenFromHQ  = "hq"  // headquarters' token broker
)
