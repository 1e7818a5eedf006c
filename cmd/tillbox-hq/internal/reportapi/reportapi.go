// Package reportapi is headquarters' client for the Vipps MobilePay Report API
// (specs/report-api.yaml, v2): the ledgers the keys may read, and the funds and
// fees rows of one ledger date, every page.
//
// Authentication follows the spec: every call sends `Authorization: Bearer
// <access token>`, the JWT of POST /accesstoken/get (the spec's JWT parameter).
// The spec names no subscription key on the Report API; a configured one is
// sent as Ocp-Apim-Subscription-Key anyway (harmless, and the gateway in front
// of every Vipps API knows it), an empty one is not sent.
//
// Errors name the operation and the HTTP status; they never carry the token or
// the subscription key.
package reportapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/version"
)

// Config configures a Client.
type Config struct {
	BaseURL         string                                    // https://api.vipps.no, apitest, or the simulator on loopback (http only on loopback)
	Token           func(ctx context.Context) (string, error) // the access token (headquarters' unit credentials)
	SubscriptionKey epayment.Secret                           // sent as Ocp-Apim-Subscription-Key when set; may be empty
	HTTP            *http.Client                              // nil: a default with timeouts (redirects are never followed)

	// Refused, when set, is told the token a call got 401 for, so that the
	// token source drops it (epayment.Client.AccessToken(ctx, refused)); the
	// call is then tried once more with a new token. Without it a 401 is
	// returned at once.
	Refused func(token string)
}

// Client calls the Report API. It is safe for concurrent use.
type Client struct {
	base *url.URL
	cfg  Config
	hc   *http.Client
}

// Ledger is one settlement ledger.
type Ledger struct {
	ID, Currency string
	MSNs         []string // from the "api:<MSN>" settlesForRecipientHandles
}

// Transaction is one row of a ledger date, funds or fees.
type Transaction struct {
	PSPReference, Reference, EntryType, Currency, RecipientHandle string
	LedgerDate                                                    string // YYYY-MM-DD
	Time                                                          time.Time
	Amount, BalanceBefore, BalanceAfter                           int64 // minor units, signs as the spec gives them
}

// Topics of the dates endpoint.
const (
	TopicFunds = "funds"
	TopicFees  = "fees"
)

// Operation names used in errors.
const (
	OpLedgers = "getLedgers"
	OpDay     = "getReportByDate"
)

// maxPages bounds a walk through the pages of one answer, against a server
// that keeps handing out cursors.
const maxPages = 10_000

// Error is a Report API answer that is not a success.
type Error struct {
	Op     string // OpLedgers or OpDay
	Status int    // the HTTP status
	Detail string // what the answer said, short; never a credential
}

func (e *Error) Error() string {
	s := fmt.Sprintf("reportapi: %s: HTTP %d", e.Op, e.Status)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// New checks cfg and returns a Client. It makes no network call.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("reportapi: BaseURL is empty")
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("reportapi: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if base.Scheme == "http" && !isLoopbackHost(base.Hostname()) {
		return nil, fmt.Errorf("reportapi: BaseURL %q uses http: the token would travel in clear text; use https (http only on a loopback host)", cfg.BaseURL)
	}
	if base.User != nil || base.RawQuery != "" {
		return nil, errors.New("reportapi: BaseURL must carry neither user information nor a query")
	}
	if cfg.Token == nil {
		return nil, errors.New("reportapi: Token is nil")
	}
	// A shallow copy that never follows a redirect: Go would carry the
	// Authorization header to the new host. A 3xx answer is an *Error.
	hc := &http.Client{Timeout: 60 * time.Second}
	if cfg.HTTP != nil {
		c := *cfg.HTTP
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: base, cfg: cfg, hc: hc}, nil
}

// wireLedger is the spec's Ledger.
type wireLedger struct {
	LedgerID                   string   `json:"ledgerId"`
	Currency                   string   `json:"currency"`
	SettlesForRecipientHandles []string `json:"settlesForRecipientHandles"`
}

type ledgersPage struct {
	Cursor string       `json:"cursor"`
	Items  []wireLedger `json:"items"`
}

// wireTransaction is the spec's Transaction; Money is a JSON number.
type wireTransaction struct {
	PSPReference    string      `json:"pspReference"`
	Time            string      `json:"time"`
	LedgerDate      string      `json:"ledgerDate"`
	EntryType       string      `json:"entryType"`
	Reference       string      `json:"reference"`
	Currency        string      `json:"currency"`
	Amount          json.Number `json:"amount"`
	BalanceBefore   json.Number `json:"balanceBefore"`
	BalanceAfter    json.Number `json:"balanceAfter"`
	RecipientHandle string      `json:"recipientHandle"`
}

type reportPage struct {
	Cursor   string            `json:"cursor"`
	HasMore  bool              `json:"hasMore"`
	TryLater bool              `json:"tryLater"`
	Items    []wireTransaction `json:"items"`
}

// Ledgers returns every ledger the credentials may read, all pages.
func (c *Client) Ledgers(ctx context.Context) ([]Ledger, error) {
	var out []Ledger
	cursor := ""
	seen := map[string]bool{}
	for range maxPages {
		q := url.Values{}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page ledgersPage
		status, err := c.get(ctx, OpLedgers, "/settlement/v1/ledgers", q, &page)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, &Error{Op: OpLedgers, Status: status, Detail: "unexpected success status"}
		}
		for _, l := range page.Items {
			led := Ledger{ID: l.LedgerID, Currency: l.Currency}
			for _, h := range l.SettlesForRecipientHandles {
				if msn, ok := strings.CutPrefix(h, "api:"); ok {
					led.MSNs = append(led.MSNs, msn)
				}
			}
			out = append(out, led)
		}
		if page.Cursor == "" {
			return out, nil
		}
		if seen[page.Cursor] {
			return nil, fmt.Errorf("reportapi: %s: the server repeated a cursor", OpLedgers)
		}
		seen[page.Cursor] = true
		cursor = page.Cursor
	}
	return nil, fmt.Errorf("reportapi: %s: more than %d pages", OpLedgers, maxPages)
}

// Day is every row of one ledger date of topic "funds" or "fees", all pages.
// closed is false when the date is not closed yet (tryLater) or not available
// (404): the rows so far, to be fetched again later.
func (c *Client) Day(ctx context.Context, ledgerID, topic, ledgerDate string) (rows []Transaction, closed bool, err error) {
	if topic != TopicFunds && topic != TopicFees {
		return nil, false, fmt.Errorf("reportapi: topic %q is not funds or fees", topic)
	}
	if _, err := time.Parse(time.DateOnly, ledgerDate); err != nil {
		return nil, false, fmt.Errorf("reportapi: ledger date %q is not YYYY-MM-DD", ledgerDate)
	}
	if ledgerID == "" {
		return nil, false, errors.New("reportapi: ledger ID is empty")
	}
	path := "/report/v2/ledgers/" + url.PathEscape(ledgerID) + "/" + topic + "/dates/" + ledgerDate
	closed = true
	cursor := ""
	seen := map[string]bool{}
	for range maxPages {
		q := url.Values{}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page reportPage
		status, err := c.get(ctx, OpDay, path, q, &page)
		if err != nil {
			return nil, false, err
		}
		if status == http.StatusNotFound {
			return rows, false, nil
		}
		if page.TryLater {
			closed = false
		}
		for _, w := range page.Items {
			t, err := w.transaction()
			if err != nil {
				return nil, false, fmt.Errorf("reportapi: %s: %w", OpDay, err)
			}
			rows = append(rows, t)
		}
		if !page.HasMore || page.Cursor == "" {
			return rows, closed, nil
		}
		if seen[page.Cursor] {
			return nil, false, fmt.Errorf("reportapi: %s: the server repeated a cursor", OpDay)
		}
		seen[page.Cursor] = true
		cursor = page.Cursor
	}
	return nil, false, fmt.Errorf("reportapi: %s: more than %d pages", OpDay, maxPages)
}

func (w wireTransaction) transaction() (Transaction, error) {
	t := Transaction{
		PSPReference:    w.PSPReference,
		Reference:       w.Reference,
		EntryType:       w.EntryType,
		Currency:        w.Currency,
		RecipientHandle: w.RecipientHandle,
		LedgerDate:      w.LedgerDate,
	}
	if w.Time != "" {
		tm, err := time.Parse(time.RFC3339Nano, w.Time)
		if err != nil {
			return t, fmt.Errorf("row %s: time %q is not RFC 3339", w.PSPReference, w.Time)
		}
		t.Time = tm.UTC()
	}
	for _, m := range []struct {
		name string
		n    json.Number
		to   *int64
	}{{"amount", w.Amount, &t.Amount}, {"balanceBefore", w.BalanceBefore, &t.BalanceBefore}, {"balanceAfter", w.BalanceAfter, &t.BalanceAfter}} {
		if m.n == "" {
			continue
		}
		v, err := strconv.ParseInt(m.n.String(), 10, 64)
		if err != nil {
			return t, fmt.Errorf("row %s: %s %q is not a whole number of minor units", w.PSPReference, m.name, m.n)
		}
		*m.to = v
	}
	return t, nil
}

// get sends one GET and decodes a 200 into v. It returns the status for a 200
// or a 404 of the dates endpoint; any other status is an *Error. A 401 is
// tried once more with a new token when Config.Refused is set.
func (c *Client) get(ctx context.Context, op, path string, q url.Values, v any) (int, error) {
	status, tok, err := c.getOnce(ctx, op, path, q, v)
	var e *Error
	if c.cfg.Refused != nil && errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		c.cfg.Refused(tok)
		status, _, err = c.getOnce(ctx, op, path, q, v)
	}
	return status, err
}

// getOnce is one try of get; it also returns the token it sent.
func (c *Client) getOnce(ctx context.Context, op, path string, q url.Values, v any) (status int, tok string, err error) {
	tok, err = c.cfg.Token(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("reportapi: %s: getting the access token: %w", op, err)
	}
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, tok, fmt.Errorf("reportapi: %s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if c.cfg.SubscriptionKey != "" {
		req.Header.Set("Ocp-Apim-Subscription-Key", c.cfg.SubscriptionKey.Reveal())
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Vipps-System-Name", "tillbox-hq")
	req.Header.Set("Vipps-System-Version", version.Header())
	req.Header.Set("Vipps-System-Plugin-Name", "tillbox-hq")
	req.Header.Set("Vipps-System-Plugin-Version", version.Header())
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, tok, fmt.Errorf("reportapi: %s: %w", op, c.scrub(unwrapURLError(err), tok))
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, tok, fmt.Errorf("reportapi: %s: reading the answer: %w", op, c.scrub(err, tok))
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(v); err != nil {
			return 0, tok, fmt.Errorf("reportapi: %s: HTTP 200 with a body that is not the spec's JSON: %v", op, err)
		}
		return resp.StatusCode, tok, nil
	case resp.StatusCode == http.StatusNotFound && op == OpDay:
		return resp.StatusCode, tok, nil
	}
	return 0, tok, &Error{Op: op, Status: resp.StatusCode, Detail: c.redact(errorDetail(data), tok)}
}

// errorDetail is the human part of an error body: a Problem's title and
// detail, the 500's errorMessage, the 401's message, or nothing.
func errorDetail(data []byte) string {
	var b struct {
		Title        string `json:"title"`
		Detail       string `json:"detail"`
		ErrorMessage string `json:"errorMessage"`
		Message      string `json:"message"`
	}
	if json.Unmarshal(data, &b) != nil {
		return ""
	}
	parts := []string{}
	for _, s := range []string{b.Title, b.Detail, b.ErrorMessage, b.Message} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	s := strings.Join(parts, ": ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// redact removes the credentials from a text that came from elsewhere.
func (c *Client) redact(s, tok string) string {
	for _, secret := range []string{tok, c.cfg.SubscriptionKey.Reveal()} {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

func (c *Client) scrub(err error, tok string) error {
	msg := err.Error()
	if red := c.redact(msg, tok); red != msg {
		return errors.New(red)
	}
	return err
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// isLoopbackHost reports whether host (without port) is localhost or a
// loopback IP address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
