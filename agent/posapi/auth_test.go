package posapi

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
)

// routes is one request to every authenticated route.
var routes = []call{
	{method: "POST", path: "/api/v1/sales", body: []byte(`{"amount":1000,"currency":"NOK"}`)},
	{method: "GET", path: "/api/v1/sales"},
	{method: "GET", path: "/api/v1/sales/auth-0001"},
	{method: "POST", path: "/api/v1/sales/auth-0001/cancel"},
	{method: "POST", path: "/api/v1/sales/auth-0001/capture", body: []byte(`{}`)},
	{method: "POST", path: "/api/v1/sales/auth-0001/refund", body: []byte(`{"amount":100}`)},
	{method: "GET", path: "/api/v1/events"},
	{method: "GET", path: "/api/v1/events/ws"},
	{method: "GET", path: "/api/v1/status"},
	{method: "POST", path: "/api/v1/scans", body: []byte(`{"code":"` + qrCode + `"}`)},
	{method: "GET", path: "/api/v1/no-such-route"},
}

// TestAuth: every route refuses a request without the right bearer token
// with 401 and WWW-Authenticate, changes nothing, and never shows or logs a
// token. The document is public.
func TestAuth(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	for _, route := range routes {
		for _, auth := range []string{"-", "Bearer " + sentTokens[0], "Basic " + sentTokens[1], "Bearer", "Bearer ", r.token.Reveal(),
			"Bearer " + r.token.Reveal() + "x", "Bearer " + r.token.Reveal()[:len(r.token)-1]} {
			c := route
			c.auth, c.malformed = auth, true
			a := r.send(c)
			e := a.error(t)
			if a.status != http.StatusUnauthorized || e.Code != codeUnauthorized || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with %q: %d %+v WWW-Authenticate %q", c.method, c.path, redact(auth, r), a.status, e, a.header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(a.body), r.token.Reveal()) || strings.Contains(string(a.body), sentTokens[0]) {
				t.Errorf("the answer shows a token: %s", a.body)
			}
		}
	}
	r.nothingWritten()

	// The scheme is case-insensitive.
	if a := r.send(call{method: "GET", path: "/api/v1/status", auth: "bearer " + r.token.Reveal()}); a.status != http.StatusOK {
		t.Errorf("lower-case bearer: %d %s", a.status, a.body)
	}
	// The document is public, and it is the embedded file.
	a := r.send(call{method: "GET", path: "/api/openapi.yaml", auth: "-"})
	if a.status != http.StatusOK || !bytes.Equal(a.body, OpenAPI) || a.header.Get("Content-Type") != "application/yaml" {
		t.Errorf("openapi.yaml: %d %q", a.status, a.header.Get("Content-Type"))
	}
	if _, err := parseSpec(a.body); err != nil {
		t.Errorf("the served document does not load: %v", err)
	}
	if !strings.Contains(r.logs.String(), "POS API: unauthorized request") {
		t.Errorf("refused requests are not logged")
	}
}

func redact(auth string, r *rig) string { return strings.ReplaceAll(auth, r.token.Reveal(), "TOKEN") }

// TestNoTokenRefusesAll: a server without a token refuses everything,
// even an empty bearer token.
func TestNoTokenRefusesAll(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	logs := agenttest.NewLogs()
	h := New(r.agent, "", logs.Logger())
	for _, auth := range []string{"", "Bearer ", "Bearer"} {
		req := httptest.NewRequest("GET", "/api/v1/status", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%q: %d", auth, rec.Code)
		}
	}
	if !logs.Contains("no token configured") {
		t.Errorf("no warning about the missing token: %s", logs.String())
	}
}

// TestClientErrors: the client turns answers into *Error that unwraps to
// the agent's errors.
func TestClientErrors(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	ctx := context.Background()
	bad := &Client{BaseURL: r.url, Token: "wrong-token-a7f3", HTTPClient: r.hc}
	_, err := bad.Status(withMalformed(ctx))
	var e *Error
	if !errors.As(err, &e) || e.Status != 401 || e.Code != codeUnauthorized {
		t.Errorf("wrong token: %#v", err)
	}
	_, _, err = r.client.CreateSale(withMalformed(ctx), agent.SaleRequest{Amount: 1, Currency: "NOK"})
	if !errors.As(err, &e) || e.Field != "amount" || !strings.Contains(err.Error(), "amount: must be at least 100") {
		t.Errorf("invalid sale: %#v", err)
	}
	if _, err := r.client.GetSale(ctx, "nope-0000"); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("no sale: %v", err)
	}
	if err := (&Client{BaseURL: "ftp://x"}).StreamEvents(ctx, 0, nil); err == nil {
		t.Error("an ftp base URL was taken")
	}
}
