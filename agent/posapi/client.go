package posapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/tlscert"
)

// maxAnswer bounds how much of an answer the client reads (a page of 1000
// events fits many times over).
const maxAnswer = 16 << 20

// Client is a typed client of the POS API, for scripts, the tillbox pos
// command and tests. Its zero value needs BaseURL and Token.
type Client struct {
	// BaseURL is the box's address, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Token is the till's POS token.
	Token epayment.Secret
	// HTTPClient sends the requests; nil means http.DefaultClient. Each
	// call is bounded by its context, and a long-poll by its wait.
	HTTPClient *http.Client
	// Dialer opens the WebSocket of StreamEvents; nil means
	// websocket.DefaultDialer.
	Dialer *websocket.Dialer

	pinned bool // Pin was called: plain http:// is refused
}

// Pin makes c talk only to a box whose TLS certificate has the SHA-256
// fingerprint pin ("AB:CD:…" as the box's status, technician page and
// `tillbox doctor` show it, or 64 hex digits), its self-made certificate
// included, and never over plain http://. It sets HTTPClient and Dialer.
// A server with another certificate is refused before anything (the
// token) is sent, with a *tlscert.PinError.
func (c *Client) Pin(pin string) error {
	cfg, err := tlscert.PinnedConfig(pin)
	if err != nil {
		return fmt.Errorf("posapi: %w", err)
	}
	c.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true,
		TLSHandshakeTimeout: 10 * time.Second, IdleConnTimeout: 90 * time.Second}}
	d := *websocket.DefaultDialer
	d.TLSClientConfig = cfg
	c.Dialer = &d
	c.pinned = true
	return nil
}

// errPlainPinned refuses a pinned client's request to a plain URL.
func (c *Client) errPlainPinned() error {
	if c.pinned && !strings.HasPrefix(strings.ToLower(c.BaseURL), "https://") {
		return fmt.Errorf("posapi: a pinned client talks only TLS: %q is not an https:// URL", c.BaseURL)
	}
	return nil
}

// Error is an error answer of the API. It wraps the agent's sentinel error
// of its code, so errors.Is(err, agent.ErrNotFound) works on either side.
type Error struct {
	Status  int    // the HTTP status
	Code    string // the "error" member: invalid_request, not_found, ...
	Message string
	Field   string // for invalid_request: the field at fault
	Reason  string // for invalid_request: why
	// RetryAfter is the Retry-After of a 503, 0 when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Message
}

// Unwrap returns the agent's error for the code, or nil.
func (e *Error) Unwrap() error {
	switch e.Code {
	case codeNotFound:
		return agent.ErrNotFound
	case codeConflict:
		return agent.ErrConflict
	case codeWrongState:
		return agent.ErrWrongState
	case codeBusy:
		return agent.ErrBusy
	case codePaymentPending:
		return agent.ErrPaymentPending
	case codeEventsPruned:
		return agent.ErrEventsPruned
	case codeEventsAhead:
		return agent.ErrEventsAhead
	case codeQueueFull:
		return agent.ErrQueueFull
	case codeShuttingDown:
		return agent.ErrStopping
	}
	return nil
}

// CreateSale sends a sale. created is false when the same request with the
// same reference was taken before and sale is that one as it stands.
func (c *Client) CreateSale(ctx context.Context, req agent.SaleRequest) (sale agent.Sale, created bool, err error) {
	status, err := c.do(ctx, http.MethodPost, "/api/v1/sales", nil, req, &sale)
	return sale, status == http.StatusCreated, err
}

// GetSale returns one sale.
func (c *Client) GetSale(ctx context.Context, ref string) (agent.Sale, error) {
	var sale agent.Sale
	_, err := c.do(ctx, http.MethodGet, salePath(ref, ""), nil, nil, &sale)
	return sale, err
}

// ListSales returns a page of up to limit sales (0: the server's default)
// after the reference after ("" from the start).
func (c *Client) ListSales(ctx context.Context, after string, limit int) (SalesPage, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var page SalesPage
	_, err := c.do(ctx, http.MethodGet, "/api/v1/sales", q, nil, &page)
	return page, err
}

// CancelSale queues a cancel, or cancels at once a sale not sent yet. A
// sale that already ended without payment comes back as it stands (200):
// repeating a cancel is harmless. A captured sale is an error
// (wrong_state): refund it instead.
func (c *Client) CancelSale(ctx context.Context, ref string) (agent.Sale, error) {
	var sale agent.Sale
	_, err := c.do(ctx, http.MethodPost, salePath(ref, "cancel"), nil, nil, &sale)
	return sale, err
}

// CaptureSale queues a capture of amount, or of all that is left when
// amount is 0.
func (c *Client) CaptureSale(ctx context.Context, ref string, amount int64) (agent.Sale, error) {
	var req CaptureRequest
	if amount != 0 {
		req.Amount = &amount
	}
	var sale agent.Sale
	_, err := c.do(ctx, http.MethodPost, salePath(ref, "capture"), nil, req, &sale)
	return sale, err
}

// RefundSale queues a refund of amount, or of all that is captured and not
// refunded when amount is 0; refundID ("" for none) makes it safe to
// repeat.
func (c *Client) RefundSale(ctx context.Context, ref string, amount int64, refundID string) (agent.Sale, error) {
	req := RefundRequest{RefundID: refundID}
	if amount != 0 {
		req.Amount = &amount
	}
	var sale agent.Sale
	_, err := c.do(ctx, http.MethodPost, salePath(ref, "refund"), nil, req, &sale)
	return sale, err
}

// Events returns up to limit events (0: the server's default) after the
// seq after, waiting up to wait (at most MaxWait seconds, whole seconds)
// for the first one. An after past the box's newest event is an error
// that wraps agent.ErrEventsAhead: the position comes from another
// database (a restored backup, another box); settle the open sales with
// GetSale and go on after Status().LastSeq. agent.ErrEventsPruned is the
// same advice for a position older than the box keeps.
func (c *Client) Events(ctx context.Context, after uint64, wait time.Duration, limit int) (EventsPage, error) {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if s := int(wait / time.Second); s > 0 {
		q.Set("wait", strconv.Itoa(min(s, MaxWait)))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var page EventsPage
	_, err := c.do(ctx, http.MethodGet, "/api/v1/events", q, nil, &page)
	return page, err
}

// Status returns the box's status.
func (c *Client) Status(ctx context.Context) (agent.Status, error) {
	var st agent.Status
	_, err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, nil, &st)
	return st, err
}

// Scan sends a code as if the box's scanner had read it.
func (c *Client) Scan(ctx context.Context, code string) (agent.ScanResult, error) {
	var res agent.ScanResult
	_, err := c.do(ctx, http.MethodPost, "/api/v1/scans", nil, ScanRequest{Code: code}, &res)
	return res, err
}

// StreamEvents reads the event log over WebSocket from the seq after on,
// calling fn with each event in order, until ctx ends (it returns nil),
// fn returns an error (it returns that), or the stream fails. A POS
// reconnects with after set to the Seq of the last event fn handled. A
// position the box no longer keeps, or never reached, is an error wrapping
// agent.ErrEventsPruned or agent.ErrEventsAhead, as for Events.
func (c *Client) StreamEvents(ctx context.Context, after uint64, fn func(agent.Event) error) error {
	if err := c.errPlainPinned(); err != nil {
		return err
	}
	u, err := url.Parse(strings.TrimSuffix(c.BaseURL, "/") + "/api/v1/events/ws")
	if err != nil {
		return fmt.Errorf("posapi: base URL: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return fmt.Errorf("posapi: base URL %q is not http(s)", c.BaseURL)
	}
	u.RawQuery = url.Values{"after": {strconv.FormatUint(after, 10)}}.Encode()
	d := c.Dialer
	if d == nil {
		d = websocket.DefaultDialer
	}
	conn, resp, err := d.DialContext(ctx, u.String(), c.header())
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			return answerError(resp, body)
		}
		return fmt.Errorf("posapi: event stream: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		conn.Close()
	})
	defer stop()
	for {
		var ev agent.Event
		_, r, err := conn.NextReader()
		if err == nil {
			err = json.NewDecoder(r).Decode(&ev)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if ce, ok := errors.AsType[*websocket.CloseError](err); ok && ce.Code == CloseEventsPruned {
				return &Error{Code: codeEventsPruned, Status: http.StatusGone, Message: ce.Text}
			}
			return fmt.Errorf("posapi: event stream: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

func salePath(ref, action string) string {
	p := "/api/v1/sales/" + url.PathEscape(ref)
	if action != "" {
		p += "/" + action
	}
	return p
}

func (c *Client) header() http.Header {
	h := http.Header{}
	if c.Token != "" {
		h.Set("Authorization", "Bearer "+c.Token.Reveal())
	}
	return h
}

// do sends one request and decodes a 2xx answer into out; any other
// answer is an *Error. It returns the status.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) (int, error) {
	if err := c.errPlainPinned(); err != nil {
		return 0, err
	}
	u := strings.TrimSuffix(c.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, fmt.Errorf("posapi: %w", err)
	}
	req.Header = c.header()
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("posapi: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("posapi: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, answerError(resp, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, fmt.Errorf("posapi: %s %s: the answer is not what the API sends: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// answerError turns an error answer into an *Error, whatever its body.
func answerError(resp *http.Response, body []byte) error {
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 || msg == "" {
			msg = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		}
		return &Error{Status: resp.StatusCode, Message: msg}
	}
	out := &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Message, Field: e.Field, Reason: e.Reason}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		out.RetryAfter = time.Duration(s) * time.Second
	}
	return out
}
