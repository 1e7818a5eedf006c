package sim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

var msnPattern = regexp.MustCompile(`^[0-9]{4,10}$`)

// tokenResource is the constant "resource" of the real token answer.
const tokenResource = "00000002-0000-0000-c000-000000000000"

// handleToken is POST /accesstoken/get: the headers client_id, client_secret
// and Ocp-Apim-Subscription-Key in, a bearer token valid for TokenLifetime (by
// the simulator's clock) out, every value a string.
//
// With a scaled clock (--speed) the answer speaks real time, the time of any
// client: expires_in is the lifetime divided by the speed, in whole real
// seconds (at least 1, the token then living that long), and expires_on and
// not_before are real epoch seconds. Otherwise a client would keep a token
// the simulator considers expired, speed times too long. With a clock.Fake the
// answer is in the simulator's time (tests move both clocks).
func (s *Server) handleToken(c *call) *reply {
	h := c.r.Header
	id, secret, sub := h.Get("client_id"), h.Get("client_secret"), h.Get("Ocp-Apim-Subscription-Key")
	switch {
	case sub == "":
		return c.unauthorized("Access denied due to missing subscription key.")
	case !pinnedMatches(s.opts.SubscriptionKey, sub):
		return c.unauthorized("Access denied due to invalid subscription key.")
	case id == "" || secret == "":
		return c.problem(http.StatusBadRequest, "", "invalid request", "The client_id and client_secret headers are required.")
	case !pinnedMatches(s.opts.ClientID, id) || !pinnedMatches(s.opts.ClientSecret, secret):
		return c.unauthorized("Invalid client_id or client_secret.")
	}
	now := s.now()
	life := s.opts.TokenLifetime
	secs := int64(life / time.Second)
	wallNow, wallSecs := now, secs // the times the answer reports
	if speed := realSpeed(s.clock); speed > 0 && speed != 1 {
		wallNow = time.Now()
		wallSecs = max(1, int64(life.Seconds()/speed))
		life = max(life, time.Duration(float64(wallSecs)*speed*float64(time.Second)))
	}
	exp := now.Add(life)
	tok := newAccessToken(id, now, exp)

	s.mu.Lock()
	for t, e := range s.tokens { // keep the table small: forget expired tokens
		if !now.Before(e) {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = exp
	s.mu.Unlock()

	in := strconv.FormatInt(wallSecs, 10)
	return jsonReply(http.StatusOK, ctTokenJSON, epayment.TokenResponse{
		TokenType:    "Bearer",
		ExpiresIn:    in,
		ExtExpiresIn: in,
		ExpiresOn:    strconv.FormatInt(wallNow.Unix()+wallSecs, 10),
		NotBefore:    strconv.FormatInt(wallNow.Unix(), 10),
		Resource:     tokenResource,
		AccessToken:  tok,
	})
}

// pinnedMatches reports whether got is acceptable for a pinned value ("" = any),
// comparing in constant time.
func pinnedMatches(pinned, got string) bool {
	return pinned == "" || subtle.ConstantTimeCompare([]byte(pinned), []byte(got)) == 1
}

// newAccessToken returns a JWT-shaped bearer token. The simulator recognises
// its tokens by table lookup; the signature is only there for realism.
func newAccessToken(clientID string, now, exp time.Time) string {
	var key, jti [32]byte
	_, _ = rand.Read(key[:])
	_, _ = rand.Read(jti[:])
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "HS256"})
	claims, _ := json.Marshal(map[string]any{
		"aud":   tokenResource,
		"iss":   "https://sim.tillbox.invalid/",
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   exp.Unix(),
		"appid": clientID,
		"jti":   hex.EncodeToString(jti[:]),
		"ver":   "1.0",
	})
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

// RevokeTokens invalidates every access token issued so far, so that the next
// call with one of them gets 401 (for testing a client's refresh).
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// checkHeaders applies the checks the real gateway and APIs make before an
// operation runs: subscription key and bearer token (401), Merchant-Serial-Number
// (400 when missing or malformed where required, 403 when not the pinned one),
// Idempotency-Key (400 when missing where required or longer than 50).
func (s *Server) checkHeaders(c *call) *reply {
	if c.api() == apiToken {
		return nil
	}
	h := c.r.Header
	c.subKey = h.Get("Ocp-Apim-Subscription-Key")
	switch {
	case c.subKey == "" && c.api() != apiWebhooks && c.api() != apiReport: // the Report API spec names no subscription key
		return c.unauthorized("Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.")
	case c.subKey != "" && !pinnedMatches(s.opts.SubscriptionKey, c.subKey):
		return c.unauthorized("Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.")
	}

	scheme, tok, _ := strings.Cut(h.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return c.unauthorized("The Authorization header must be 'Bearer <access token>'.")
	}
	now := s.now()
	s.mu.Lock()
	exp, ok := s.tokens[tok]
	s.mu.Unlock()
	if !ok || !now.Before(exp) {
		return c.unauthorized("The access token is invalid or has expired.")
	}

	c.msn = h.Get("Merchant-Serial-Number")
	msnRequired := c.api() == apiEPayment || c.api() == apiOrderManagement
	switch {
	case c.msn == "" && msnRequired:
		return c.invalid(field{"Merchant-Serial-Number", "The Merchant-Serial-Number header is required."})
	case c.msn != "" && !msnPattern.MatchString(c.msn):
		return c.invalid(field{"Merchant-Serial-Number", "The Merchant-Serial-Number header must match the regular expression '" + msnPatternDescription + "'."})
	case c.msn != "" && s.opts.MSN != "" && c.msn != s.opts.MSN:
		return c.problem(http.StatusForbidden, "", "Forbidden", "The Merchant-Serial-Number does not belong to these API keys.")
	}
	if c.msn == "" {
		c.msn = s.opts.MSN
	}

	c.idemKey = h.Get("Idempotency-Key")
	switch {
	case c.rt.idem == idemRequired && c.idemKey == "":
		return c.invalid(field{"Idempotency-Key", "The Idempotency-Key header is required."})
	case c.rt.idem != idemNone && len(c.idemKey) > maxIdempotencyKeyLength:
		return c.invalid(field{"Idempotency-Key", "The Idempotency-Key header must be at most 50 characters."})
	case c.rt.idem == idemNone:
		c.idemKey = ""
	}
	return nil
}
