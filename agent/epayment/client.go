// Package epayment is a client of the Vipps MobilePay APIs an in-store till
// needs: the access token, ePayment, Order Management receipts, Webhooks and
// the personal QR exchange (see shared/vipps/FACTS.md).
//
// The client sends every header Vipps asks for, caches the access token, and
// turns every non-2xx answer into an *Error, a missing answer into a
// *TransportError and an unreadable 2xx answer into a *DecodeError; IsRetryable,
// IsConflict, IsAuth, IsPermanent and OutcomeUnknown classify them. It talks
// https only (http on loopback, for a simulator) and never follows a redirect,
// so that the keys never reach another host. It never invents an
// Idempotency-Key: the caller owns keys, so that a command retried after a
// restart is the same command. (net/http itself may resend a request that
// carries an Idempotency-Key once, when a reused connection fails before any
// answer; that is safe for the same reason.)
package epayment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tillbox/tillbox/agent/version"
)

// Base URLs of the Vipps MobilePay hosts (FACTS.md §1).
const (
	TestBaseURL       = "https://apitest.vipps.no"
	ProductionBaseURL = "https://api.vipps.no"
)

// maxBody bounds how much of an answer the client reads.
const maxBody = 1 << 20

// Config holds what a Client needs. ClientID, ClientSecret, SubscriptionKey
// and MSN come from the business portal (For developers) of the sales unit.
// With a TokenSource, ClientID and ClientSecret may be empty: every call
// still sends the SubscriptionKey and the MSN.
type Config struct {
	// BaseURL is TestBaseURL, ProductionBaseURL or a simulator's URL. It
	// must be https, except on a loopback host (127.0.0.0/8, ::1, localhost),
	// where http is allowed for a simulator.
	BaseURL         string
	ClientID        string
	ClientSecret    Secret
	SubscriptionKey Secret
	// MSN is the merchant serial number of the sales unit.
	MSN string
	// TokenSource, when set, gives the access token (tokensource.go):
	// headquarters' broker. With a ClientSecret too, the client falls back
	// on its own token call when the source gives none and the token held
	// has expired.
	TokenSource TokenSource

	// SystemName and SystemVersion become Vipps-System-Name/-Version;
	// defaults "tillbox" and this build's version. PluginName and
	// PluginVersion (Vipps-System-Plugin-*) default to the system's values,
	// as Vipps advises when there is no separate plugin.
	SystemName    string
	SystemVersion string
	PluginName    string
	PluginVersion string

	// HTTPClient sends the requests; nil means a client with a 30 s timeout.
	// The client uses a shallow copy that never follows redirects: Go would
	// carry client_secret and Ocp-Apim-Subscription-Key to the new host. A 3xx
	// answer is returned as an *Error.
	HTTPClient *http.Client
	// Logger gets one debug line per call; nil discards. Secrets are never logged.
	Logger *slog.Logger
	// Now is the clock for token expiry; nil means time.Now.
	Now func() time.Time
	// Observe, when set, is told of every round trip (observe.go); it must
	// not block.
	Observe func(CallInfo)
}

// Client calls the Vipps MobilePay APIs. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	cfg     Config
	hc      *http.Client
	log     *slog.Logger
	now     func() time.Time
	headers http.Header // the Vipps-System-* headers
	tokens  tokenCache
	clock   serverClock // the latest answer's Date header (health.go)
}

var (
	msnPattern  = regexp.MustCompile(`^[0-9]{4,10}$`)
	guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// New checks cfg and returns a Client. It makes no network call.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("epayment: BaseURL is empty: use TestBaseURL, ProductionBaseURL or a simulator's URL")
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("epayment: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if base.Scheme == "http" && !isLoopbackHost(base.Hostname()) {
		return nil, fmt.Errorf("epayment: BaseURL %q uses http: the keys and tokens would travel in clear text; use https (http is allowed only on a loopback host: 127.0.0.1, ::1, localhost)", cfg.BaseURL)
	}
	if base.User != nil {
		return nil, fmt.Errorf("epayment: BaseURL must not carry user information")
	}
	own := cfg.TokenSource == nil || cfg.ClientSecret != "" // the client makes token calls
	switch {
	case cfg.ClientID == "" && own:
		return nil, errors.New("epayment: ClientID is empty")
	case cfg.ClientID != "" && !guidPattern.MatchString(cfg.ClientID):
		return nil, fmt.Errorf("epayment: ClientID %q is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) as the business portal gives it", cfg.ClientID)
	case cfg.ClientSecret == "" && own:
		return nil, errors.New("epayment: ClientSecret is empty (and no TokenSource)")
	case cfg.SubscriptionKey == "":
		return nil, errors.New("epayment: SubscriptionKey is empty")
	case !msnPattern.MatchString(cfg.MSN):
		return nil, fmt.Errorf("epayment: MSN %q is not 4 to 10 digits", cfg.MSN)
	}
	if cfg.SystemName == "" {
		cfg.SystemName = "tillbox"
	}
	if cfg.SystemVersion == "" {
		cfg.SystemVersion = version.Header()
	}
	if cfg.PluginName == "" {
		cfg.PluginName = cfg.SystemName
	}
	if cfg.PluginVersion == "" {
		cfg.PluginVersion = cfg.SystemVersion
	}
	h := http.Header{}
	for name, v := range map[string]string{
		"Vipps-System-Name":           cfg.SystemName,
		"Vipps-System-Version":        cfg.SystemVersion,
		"Vipps-System-Plugin-Name":    cfg.PluginName,
		"Vipps-System-Plugin-Version": cfg.PluginVersion,
	} {
		if len(v) > 30 {
			return nil, fmt.Errorf("epayment: %s %q is longer than 30 characters", name, v)
		}
		h.Set(name, v)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if cfg.HTTPClient != nil {
		cp := *cfg.HTTPClient
		hc = &cp
	}
	if hc.Transport == nil {
		// net/http keeps 2 idle connections per host by default: an outbox
		// sending many commands at once would open a new connection (and
		// TLS session) for most of them.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = maxIdleConns
		hc.Transport = t
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{base: base, cfg: cfg, hc: hc, log: cfg.Logger, now: cfg.Now, headers: h}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// maxIdleConns is how many idle connections to ePayment the client keeps:
// more than the outbox's workers send at once.
const maxIdleConns = 64

// MSN is the merchant serial number the client acts for.
func (c *Client) MSN() string { return c.cfg.MSN }

// api tells which error shape an API answers with.
type api int

const (
	apiEPayment api = iota // RFC 7807 problem+json with extraDetails
	apiOrderManagement
)

// call is one request to a Vipps API.
type call struct {
	op      string // operation id, for errors and logs
	method  string
	path    string // escaped path on the host
	idemKey string // Idempotency-Key; sent when not empty
	in      any    // request body, JSON-encoded; nil for none
	out     any    // decoded from a 2xx answer when not nil
	api     api
}

// Idempotency-Key limit (FACTS.md §2).
const maxIdempotencyKey = 50

func checkKey(op, key string) error {
	if key == "" {
		return fmt.Errorf("vipps %s: an Idempotency-Key is required: the caller owns keys so that a retry repeats the same command", op)
	}
	if len(key) > maxIdempotencyKey {
		return fmt.Errorf("vipps %s: Idempotency-Key is %d characters, at most %d allowed", op, len(key), maxIdempotencyKey)
	}
	return nil
}

// do sends the call with a bearer token. After a 401 it fetches a new token
// and sends the same request once more: same body, same Idempotency-Key.
func (c *Client) do(ctx context.Context, cl call) error {
	var body []byte
	if cl.in != nil {
		var err error
		if body, err = json.Marshal(cl.in); err != nil {
			return fmt.Errorf("vipps %s: encoding request: %w", cl.op, err)
		}
	}
	for attempt := 0; ; attempt++ {
		tok, _, err := c.tokens.get(ctx, c)
		if err != nil {
			return err
		}
		err = c.send(ctx, cl, body, tok)
		if attempt == 0 && StatusCode(err) == http.StatusUnauthorized {
			c.tokens.invalidate(tok)
			continue
		}
		return err
	}
}

// send makes one round trip. token is empty for the token call itself.
func (c *Client) send(ctx context.Context, cl call, body []byte, token Secret) (err error) {
	start := c.now()
	began, status := time.Now(), 0
	defer func() { c.observe(cl.op, status, began, err) }()
	var gotConn atomic.Bool // a connection was had: the request may have been written
	traced := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }})
	req, err := http.NewRequestWithContext(traced, cl.method, c.base.String()+cl.path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("vipps %s: %w", cl.op, err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range c.headers {
		req.Header[k] = v
	}
	req.Header.Set("Ocp-Apim-Subscription-Key", c.cfg.SubscriptionKey.Reveal())
	req.Header.Set("Merchant-Serial-Number", c.cfg.MSN)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
	} else {
		req.Header.Set("client_id", c.cfg.ClientID)
		req.Header.Set("client_secret", c.cfg.ClientSecret.Reveal())
	}
	if cl.idemKey != "" {
		req.Header.Set("Idempotency-Key", cl.idemKey)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		c.log.DebugContext(ctx, "vipps call failed", "op", cl.op, "method", cl.method, "path", cl.path, "err", err)
		return &TransportError{Op: cl.op, Method: cl.method, Path: cl.path, Err: unwrapURLError(err), Canceled: ctx.Err() != nil, Unsent: !gotConn.Load()}
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	c.clock.note(resp.Header, c.now())
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &TransportError{Op: cl.op, Method: cl.method, Path: cl.path, Err: err, Canceled: ctx.Err() != nil}
	}
	traceID := resp.Header.Get("X-Trace-Id")
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := c.apiError(cl, resp, data)
		c.log.DebugContext(ctx, "vipps call refused", "op", cl.op, "method", cl.method, "path", cl.path,
			"status", e.StatusCode, "code", e.Code, "traceId", e.TraceID, "duration", c.now().Sub(start))
		return e
	}
	c.log.DebugContext(ctx, "vipps call", "op", cl.op, "method", cl.method, "path", cl.path,
		"status", resp.StatusCode, "traceId", traceID, "duration", c.now().Sub(start))
	if cl.out == nil || len(bytes.TrimSpace(data)) == 0 && resp.StatusCode == http.StatusNoContent {
		return nil
	}
	// The 200 of cancel/capture/refund is declared as application/problem+json
	// in spec 1.8.1 although it is a success body: decode by status, not type.
	if err := json.Unmarshal(data, cl.out); err != nil {
		return &DecodeError{Op: cl.op, Method: cl.method, Path: cl.path, StatusCode: resp.StatusCode, Err: err}
	}
	return nil
}

// apiError builds an *Error from a non-2xx answer, whatever its shape.
func (c *Client) apiError(cl call, resp *http.Response, data []byte) *Error {
	e := &Error{
		Op: cl.op, Method: cl.method, Path: cl.path, StatusCode: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.Detail = "redirect not followed (is BaseURL right?)"
		if loc, err := url.Parse(resp.Header.Get("Location")); err == nil && loc.Host != "" {
			e.Detail = "redirect to " + loc.Scheme + "://" + loc.Host + " not followed (is BaseURL right?)"
		}
		return e
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if !strings.HasSuffix(mt, "json") {
		e.Detail = shortText(data)
		return e
	}
	if cl.api == apiOrderManagement {
		var p OMError
		if json.Unmarshal(data, &p) == nil {
			e.Type, e.Title, e.Detail, e.Instance, e.InvalidParams = p.Type, p.Title, p.Detail, p.Instance, p.InvalidParams
		}
		return e
	}
	var p Problem
	if json.Unmarshal(data, &p) == nil {
		e.Type, e.Title, e.Detail, e.TraceID, e.Instance = p.Type, p.Title, p.Detail, p.TraceID, p.Instance
		for _, d := range p.ExtraDetails {
			if d.Name == "ErrorCode" && e.Code == "" {
				e.Code = d.Reason
			}
		}
		e.ExtraDetails = p.ExtraDetails
	}
	return e
}

// shortText is the start of a non-JSON error body, on one line.
func shortText(data []byte) string {
	s := strings.Join(strings.Fields(string(data)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// unwrapURLError drops *url.Error's wrapping, whose text repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// isLoopbackHost reports whether host (without port) is localhost or a
// loopback IP address (127.0.0.0/8, ::1).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
